"""pocketgan: unpaired image-to-image translation that ships to phones."""
__version__ = "0.1.0"
