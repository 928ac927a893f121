"""`python -m localplatform` (what `make run` runs): the platform on 127.0.0.1 until a signal."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from chalicelib.settings import SettingsError
from localplatform.network import is_loopback

# Why only this machine may reach the local platform, unless the user says otherwise.
WHY_LOOPBACK = (
    "whoever reaches it can act as any user of any tenant: the local gateway accepts tokens signed "
    "with moto's key, which is public, and the local AWS on the same address checks no credentials "
    "at all"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="localplatform", description=__doc__)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on, for the API and the local AWS; a loopback one unless --insecure-remote "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--insecure-remote",
        action="store_true",
        help="allow a --host other machines can reach; " + WHY_LOOPBACK + ". Only on a network you trust.",
    )
    parser.add_argument("--port", type=int, default=8000, help="API port; 0 picks a free one (default %(default)s)")
    parser.add_argument(
        "--aws-port", type=int, default=5000, help="local AWS (moto) port; 0 picks a free one (default %(default)s)"
    )
    parser.add_argument(
        "--retry-delay",
        type=int,
        default=1,
        help="seconds before a failed ingest message is retried (default %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host):
        if not args.insecure_remote:
            print(
                f"Not starting: --host {args.host} is not a loopback address, so other machines could reach "
                f"the local platform, and {WHY_LOOPBACK}. Use --host 127.0.0.1 (the default), or add "
                "--insecure-remote if every machine that can reach this one is trusted.",
                file=sys.stderr,
            )
            return 2
        print(f"WARNING: listening on {args.host}, reachable from other machines; {WHY_LOOPBACK}.", file=sys.stderr)
    from localplatform.runner import LocalPlatform  # after the checks: it brings moto, seconds to import

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    try:
        platform = LocalPlatform(args.host, args.port, args.aws_port, retry_delay_seconds=args.retry_delay).start()
    except (OSError, SettingsError) as exc:
        print(f"Could not start the local platform: {exc} (--port and --aws-port choose others)", file=sys.stderr)
        return 1
    try:
        print(
            "Serverless Data Platform, running locally\n"
            f"  Console    {platform.api_url}/   (open it in a browser: docs/console.md)\n"
            f"  API        {platform.api_url}\n"
            f"  local AWS  {platform.aws_url}\n"
            f"  sam local  --env-vars {platform.sam_environment_file}  (docs/deploy.md)\n"
            f"Try:  curl -s {platform.api_url}/health\n"
            f"      .venv/bin/sdp --url {platform.api_url} signup   (the sdp command: docs/cli.md)\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        stop.wait()
    finally:
        platform.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
