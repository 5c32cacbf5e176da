"""`pocketgan serve`: the web app that translates photos on the phone, plus its small API."""
from __future__ import annotations

import argparse

from .options import (
    MODEL_HELP,
    STRENGTH_HELP,
    add_device,
    float_up_to,
    non_negative_int,
    port_number,
    positive_int,
    strength_value,
)

MAX_UPLOAD_MB = 1024


def add_parser(sub) -> None:
    sv = sub.add_parser("serve", help="serve the web app that translates photos on the phone (in the browser)",
                        description="Serve an installable web app (PWA) that translates camera photos on the device "
                                    "with onnxruntime-web (WebGPU or WebAssembly): the photo never leaves the phone. "
                                    "A model folder is exported to ONNX first (cached in MODEL/export/). Also serves "
                                    "POST /api/translate for clients that cannot run the model, and /api/model.")
    sv.add_argument("--model", help=f"{MODEL_HELP} (default: the bundled summer2winter)")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on; 0.0.0.0 for phones on the network (default: 127.0.0.1)")
    sv.add_argument("--port", type=port_number, default=8000, help="1-65535 (default: 8000)")
    sv.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                    help="also answer requests for this host name or address (repeatable), e.g. the name a reverse "
                         "proxy or a phone reaches the server by. Without it the server answers only localhost, "
                         "loopback addresses and the --host it listens on (for 0.0.0.0: this machine's name and "
                         "addresses), and refuses any other Host with 421, so that a web page on another site "
                         "cannot use it through DNS rebinding. '*' turns that check off, for a server behind a "
                         "reverse proxy that checks Host itself or reached by names you cannot list; then any web page "
                         "visited by a browser that can reach the server can use it")
    sv.add_argument("--max-size", type=non_negative_int, default=1024,
                    help="longest side photos are translated at, in the page and on the server; 0 = full size "
                         "(default: 1024)")
    sv.add_argument("--strength", type=strength_value, default=1.0, metavar="S",
                    help=f"for server-side translations (POST /api/translate, whose 'strength' parameter overrides "
                         f"it; /api/model reports it): {STRENGTH_HELP} (default: 1)")
    sv.add_argument("--workers", type=positive_int, default=2,
                    help="server-side translations at once; more requests queue (default: 2)")
    sv.add_argument("--max-upload-mb", type=float_up_to(MAX_UPLOAD_MB), default=20,
                    help=f"largest photo POST /api/translate accepts (up to {MAX_UPLOAD_MB}; default: 20)")
    add_device(sv, "cpu", "device for server-side translation: ")
    sv.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..devices import resolve_device

    device = str(resolve_device(args.device))
    from ..app import require_app_dependencies

    require_app_dependencies()
    import uvicorn

    from ..app.assets import find_static
    from ..app.guard import check_allowed_hosts, guarded_h11, serve_hosts
    from ..app.server import check_address, create_app
    from ..models.zoo import resolve_model

    check_address(args.host, args.port)
    hosts = serve_hosts(args.host, args.allowed_host)
    check_allowed_hosts(hosts)  # a bad --allowed-host fails now, before the model is looked for and exported
    find_static()  # a missing web build is an error here, with the command that builds it
    model = resolve_model(args.model)
    print(f"preparing {model} (a model folder is exported to ONNX once, then reused)", flush=True)
    from ..app.pool import ALLOCATOR

    ALLOCATOR.enable()  # this process only serves: a large job's big blocks go back to the system
    app = create_app(model, max_side=args.max_size, workers=args.workers, device=device, isolate_export=True,
                     strength=args.strength, allowed_hosts=hosts,
                     max_upload_bytes=int(args.max_upload_mb * 1024 * 1024))
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {model} ({', '.join(app.state.served.directions)}) at http://{host}:{args.port}/", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("note: phones need HTTPS (e.g. a reverse proxy) to install the app, work offline and use the live camera",
              flush=True)
        if "*" not in hosts:
            print(f"note: answering requests for localhost, loopback addresses and {', '.join(hosts)}; "
                  "others get 421 (add a name with --allowed-host NAME)", flush=True)

    limits = app.state.limits  # per-address connection cap and header deadline, at the connection level
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", http=guarded_h11(limits),
                forwarded_allow_ips=list(limits.trusted_proxies), timeout_keep_alive=5)
    return 0
