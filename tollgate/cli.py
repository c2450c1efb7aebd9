"""`tollgate` command line (argparse). Every server command migrates the config store first.

    tollgate up [--workers N]       embedded all-in-one: API at /, gateway at /v1, consumers;
                                    N > 1: N gateway processes on the port (tollgate.upworkers)
    tollgate api                    management + stats API
    tollgate gateway [--workers N]  OpenAI-compatible gateway (/v1) only; N processes on one port
    tollgate consume metering|policy
    tollgate migrate                upgrade the config store schema and exit
    tollgate admin create-user --email E --password P [--name N] [--org-role R] [--org-id ID | --new-org NAME]

Exit codes: 0 ok, 1 failure, 2 usage error or command not available in this build.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from core.settings import Settings, secure_data_dir

log = logging.getLogger("tollgate.cli")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _print_banner(settings: Settings, what: str) -> None:
    print(f"tollgate {what} on http://{settings.host}:{settings.port} (data dir {settings.data_dir})", flush=True)


def _workers(args: argparse.Namespace, settings: Settings) -> int:
    return int(args.workers if args.workers is not None else settings.workers)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from tollgate.runtime import build_up_app, serve

    workers = _workers(args, settings)
    if workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    if workers > 1:
        from tollgate.upworkers import serve_up

        _print_banner(settings, f"up ({workers} gateway workers)")
        return serve_up(settings, workers, args.log_level)
    _print_banner(settings, "up")
    serve(build_up_app(settings), settings, log_level=args.log_level.lower())
    return 0


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from tollgate.runtime import build_api_app, serve

    _print_banner(settings, "api")
    serve(build_api_app(settings), settings, log_level=args.log_level.lower())
    return 0


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from tollgate.runtime import build_gateway_app, serve

    workers = _workers(args, settings)
    if workers < 1:
        print("--workers must be at least 1", file=sys.stderr)
        return 2
    if workers > 1:
        from tollgate.workers import serve_workers

        _print_banner(settings, f"gateway ({workers} workers)")
        return serve_workers(settings, workers, args.log_level)
    app = build_gateway_app(settings)
    if app.runtime.gateway is None:
        print("tollgate gateway: not available yet in this build", file=sys.stderr)
        return 2
    _print_banner(settings, "gateway")
    serve(app, settings, log_level=args.log_level.lower())
    return 0


def cmd_consume(args: argparse.Namespace, settings: Settings) -> int:
    from consumers.kafka_runner import refusal, run_metering
    from tollgate.policy_wiring import run_policy_cli

    if args.which == "policy":
        run_policy_cli(settings)
        return 0
    if args.which == "metering" and (why := refusal(settings)):
        print(why, file=sys.stderr)
        return 2
    runners: dict[str, object] = {"metering": run_metering}
    runner = runners.get(args.which)
    if runner is None:
        print(f"tollgate consume {args.which}: not available yet in this build", file=sys.stderr)
        return 2
    asyncio.run(runner(settings))  # type: ignore[operator]
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from store.migrate import head_revision, upgrade

    asyncio.run(upgrade(settings))
    print(f"config store at revision {head_revision()}")
    return 0


async def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from store.bootstrap import EmailInUse, create_user, default_org_id
    from store.db import make_engine, make_sessionmaker
    from store.migrate import upgrade_engine
    from store.models import Org

    engine = make_engine(settings.sqlalchemy_url)
    try:
        await upgrade_engine(engine)
        async with make_sessionmaker(engine)() as session:
            org_id: str | None
            if args.new_org:
                org_id = None
            elif args.org_id:
                if await session.get(Org, args.org_id) is None:
                    print(f"no org with id {args.org_id}", file=sys.stderr)
                    return 1
                org_id = args.org_id
            else:
                org_id = await default_org_id(session)
            try:
                user = await create_user(
                    session,
                    email=args.email,
                    password=args.password,
                    name=args.name or "",
                    org_role=args.org_role,
                    org_id=org_id,
                    org_name=args.new_org or None,
                )
                await session.commit()
            except EmailInUse:
                print("a user with this email already exists in that org (or in 10 orgs)", file=sys.stderr)
                return 1
            print(f"created user {user.id} ({user.email}) org {user.org_id} role {user.org_role}")
            return 0
    finally:
        await engine.dispose()


def cmd_admin_create_user(args: argparse.Namespace, settings: Settings) -> int:
    if not args.password:
        args.password = os.environ.get("TOLLGATE_NEW_USER_PASSWORD", "")
    if len(args.password) < 8:
        print("password must have at least 8 characters", file=sys.stderr)
        return 2
    if "@" not in args.email:
        print("email must be an email address", file=sys.stderr)
        return 2
    return asyncio.run(_create_user(settings, args))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tollgate", description="Tollgate AI gateway")
    p.add_argument(
        "--log-level",
        default=os.environ.get("TOLLGATE_LOG_LEVEL", "INFO"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="embedded all-in-one (API at /, gateway at /v1)")
    up.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gateway worker processes serving /v1 on the port (default TOLLGATE_WORKERS, 1: one process)",
    )
    up.set_defaults(fn=cmd_up)
    sub.add_parser("api", help="management + stats API").set_defaults(fn=cmd_api)
    gw = sub.add_parser("gateway", help="OpenAI-compatible gateway")
    gw.add_argument(
        "--workers", type=int, default=None, help="worker processes sharing the port (default TOLLGATE_WORKERS, 1)"
    )
    gw.set_defaults(fn=cmd_gateway)
    c = sub.add_parser("consume", help="run a consumer")
    c.add_argument("which", choices=["metering", "policy"])
    c.set_defaults(fn=cmd_consume)
    sub.add_parser("migrate", help="upgrade the config store schema").set_defaults(fn=cmd_migrate)
    admin = sub.add_parser("admin", help="administration")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    cu = admin_sub.add_parser("create-user", help="create a user (no API call needed)")
    cu.add_argument("--email", required=True)
    cu.add_argument("--password", default="", help="at least 8 characters (or set TOLLGATE_NEW_USER_PASSWORD)")
    cu.add_argument("--name", default="")
    cu.add_argument("--org-role", default="OWNER", choices=["USER", "BILLING", "WORKSPACES", "ADMINISTRATORS", "OWNER"])
    g = cu.add_mutually_exclusive_group()
    g.add_argument("--org-id", help="join this org (default: the oldest org, or a new one)")
    g.add_argument("--new-org", metavar="NAME", help="create a new org with this name")
    cu.set_defaults(fn=cmd_admin_create_user)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        settings = Settings()
    except Exception as exc:  # noqa: BLE001 - settings errors never echo values
        fields = [".".join(map(str, e.get("loc", ()))) for e in getattr(exc, "errors", lambda: [])()]
        print(f"invalid settings: {', '.join(fields) or type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        secure_data_dir(settings.data_dir)
    except OSError as exc:
        print(f"data dir {settings.data_dir} cannot be secured: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        return int(args.fn(args, settings) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
