"""The portal's command line: python cli.py --help"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import click

from portal.config import INSTANCE, Config

DEMO_LOGINS = INSTANCE / "demo-logins.txt"
BACKUP_EXTRAS = ("secret_key", "data_key", "demo-logins.txt")


def _app():
    from portal import create_app

    return create_app()


@click.group()
def cli() -> None:
    """医疗管理平台命令行 (hospital staff portal)."""


@cli.command()
def upgrade() -> None:
    """升级数据库到最新版本 (alembic upgrade head) 并补齐内置角色。"""
    from portal.core import migrate

    INSTANCE.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(Config.DATABASE_URL)
    app = _app()
    with app.app_context():
        from portal.auth.seed import ensure_reference_data
        from portal.extensions import db

        ensure_reference_data()
        db.session.commit()
    click.echo("数据库已升级到最新版本。")


@cli.command("downgrade")
@click.argument("revision")
def downgrade_cmd(revision: str) -> None:
    """把数据库回退到指定版本 (alembic downgrade REVISION)。"""
    from portal.core import migrate

    migrate.downgrade(Config.DATABASE_URL, revision)
    click.echo(f"数据库已回退到 {revision}。")


@cli.command("create-admin")
@click.option("--login", "login_name", default="admin", show_default=True, help="登录名")
@click.option("--password", default=None, help="初始密码（不填则随机生成并显示）")
def create_admin(login_name: str, password: str | None) -> None:
    """创建系统管理员账户（首次登录须修改密码）。"""
    from portal.auth import services
    from portal.auth.passwords import generate_password
    from portal.auth.seed import ensure_roles
    from portal.core.service import ServiceError
    from portal.extensions import db

    app = _app()
    with app.app_context():
        roles = ensure_roles()
        secret = password or generate_password()
        try:
            services.create_user(login_name=login_name, password=secret, staff_id=None, wecom_userid=None,
                                 role_ids=[roles["sysadmin"].id])
        except ServiceError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from None
        db.session.commit()
    click.echo(f"已创建系统管理员  登录名：{login_name}  初始密码：{secret}（首次登录须修改）")


@cli.command("seed-demo")
def seed_demo() -> None:
    """数据库为空时写入示范医院数据，并显示演示账户。"""
    from portal.auth.demo import is_empty
    from portal.core.domains import build_demo
    from portal.extensions import db

    app = _app()
    with app.app_context():
        if not is_empty():
            click.echo("数据库中已有数据，未写入演示数据。")
            if DEMO_LOGINS.exists():
                click.echo(DEMO_LOGINS.read_text(encoding="utf-8"))
            return
        logins = build_demo().logins
        db.session.commit()
    lines = ["演示账户（登录名 / 密码）："] + [f"  {k:<10} {v}" for k, v in logins.items()]
    lines.insert(1, f"  管理员登录：admin / {logins['admin']}   地址：http://127.0.0.1:5000")
    text = "\n".join(lines)
    DEMO_LOGINS.write_text(text + "\n", encoding="utf-8")
    DEMO_LOGINS.chmod(0o600)
    click.echo(text)


@cli.command("seed-bench")
@click.option("--scale", type=click.Choice(["small", "medium", "hospital"]), default="small", show_default=True,
              help="数据规模：small（测试、演示，几秒）、medium、hospital（3000 名员工、五年数据，几分钟）")
@click.option("--database-url", default="", help="目标数据库（默认为配置的 DATABASE_URL）；先升级到最新版本")
@click.option("--seed", default=20261201, show_default=True, type=int, help="随机数种子（同一种子生成同样的数据）")
def seed_bench(scale: str, database_url: str, seed: int) -> None:
    """在空数据库中生成基准测试数据（各业务域按安装顺序生成），并显示各表行数与耗时。"""
    from bench.kit import run
    from portal import create_app
    from portal.auth.demo import is_empty
    from portal.core import migrate
    from portal.extensions import db

    url = database_url or Config.DATABASE_URL
    INSTANCE.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url)
    app = create_app(DATABASE_URL=url) if database_url else _app()
    with app.app_context():
        if not is_empty():
            raise click.ClickException("数据库中已有账户，基准数据只写入空数据库。")
        click.echo(f"生成基准数据（{scale}）：{url.split('@')[-1]}")
        run(scale, seed=seed, echo=click.echo)
        db.session.remove()


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="不同时启动后台任务进程")
def run(host: str, port: int, no_worker: bool) -> None:
    """启动门户（开发/单机），默认同时启动并看护带定时调度的 RQ 后台任务进程。"""
    import logging

    from portal.core.processes import Supervisor
    from portal.core.redis_conn import stop_embedded_redis

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    embedded = not Config.REDIS_URL
    # SIGTERM (systemd, timeout, kill) stops like Ctrl-C: the children and the embedded Redis too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    supervisor = None
    try:
        app = _app()  # starts the embedded Redis, or reuses one that answers
        if not no_worker:
            # Restarted when they exit (with backoff); their own loops also survive a Redis outage.
            supervisor = Supervisor({"worker": [sys.executable, __file__, "worker"],
                                     "cron": [sys.executable, __file__, "cron"]})
            supervisor.start()
        if DEMO_LOGINS.exists():
            click.echo(DEMO_LOGINS.read_text(encoding="utf-8"))
        click.echo(f"门户已启动：http://{host}:{port}  （Ctrl+C 退出）")
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisor is not None:
            supervisor.stop()
        if embedded:
            stop_embedded_redis(str(INSTANCE))
        click.echo("门户已停止。")


@cli.command()
@click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
def worker(burst: bool) -> None:
    """启动 RQ 后台任务进程（含 enqueue_at/enqueue_in 调度）；Redis 中断后自动重连。"""
    from jobs import use_app
    from portal.core.processes import run_worker
    from portal.core.redis_conn import get_queue

    app = _app()
    use_app(app)
    with app.app_context():
        run_worker(lambda: [get_queue()], burst=burst)


@cli.command("purge-import-originals")
def purge_import_originals() -> None:
    """立即删除超过保留期（PORTAL_IMPORT_ORIGINAL_DAYS）的含个人信息的导入原始文件（定时任务每天执行）。"""
    from jobs import io, use_app

    use_app(_app())
    result = io.purge_import_originals()
    click.echo(f"已删除 {result['purged']} 个导入原始文件（保留 {result['days']} 天），导入日志保留。")


@cli.command("archive-reports")
@click.option("--today", default="", help="当作今天的日期（如 2026-11-03），用于补做漏生成的月份")
def archive_reports(today: str) -> None:
    """立即生成上个月按月存档的报表（定时任务每天执行；已存档的不重复生成）。"""
    from datetime import date

    from jobs import reports, use_app

    try:
        date.fromisoformat(today or "2000-01-01")
    except ValueError:
        raise click.BadParameter(f"“{today}”不是日期，应为 2026-11-03 这样的格式。", param_hint="--today") from None
    use_app(_app())
    result = reports.archive_monthly_reports(today or None)
    click.echo(f"已生成 {len(result['runs'])} 份报表存档。")


@cli.command("rebuild-summaries")
@click.option("--month", default="", help="只重算这个月（如 2026-11），不填则重算全部")
def rebuild_summaries(month: str) -> None:
    """由明细重新计算各业务域的月汇总表（报表的长期间统计读它）；汇总与明细不一致时使用。"""
    from datetime import date

    from portal.core import audit
    from portal.core.domains import installed, resolve
    from portal.extensions import db

    try:
        first = date.fromisoformat(f"{month}-01") if month else None
    except ValueError:
        raise click.BadParameter(f"“{month}”不是月份，应为 2026-11 这样的格式。", param_hint="--month") from None
    app = _app()
    with app.app_context():
        for domain in installed():
            if not domain.summaries:
                continue
            written = resolve(domain.summaries)(first)
            audit.record("rebuild", f"{domain.name}_summaries", None,
                         label=f"{domain.label}月汇总 {month or '全部月份'}",
                         changes={"month": month or "all", "rows": written})
            db.session.commit()
            click.echo(f"已重算{domain.label}月汇总（{month or '全部月份'}）：{written} 行。")


@cli.command()
def cron() -> None:
    """启动 RQ 定时任务调度（全院只运行一个）；Redis 中断后自动重连。"""
    from jobs.schedule import register_all, use_hospital_clock
    from portal.core.processes import ResilientCronScheduler
    from portal.core.redis_conn import get_redis

    app = _app()
    with app.app_context():
        use_hospital_clock()
        scheduler = ResilientCronScheduler(connection=get_redis(), name=f"portal-cron-{os.getpid()}")
        register_all(scheduler, app.config["RQ_QUEUE"], app.config)
        scheduler.start()


@cli.command("audit-verify")
def audit_verify() -> None:
    """校验审计日志哈希链及全部锚点，报告第一处断点或缺失的记录。"""
    from portal.core.audit import verify_chain
    from portal.core.audit_chain import anchor_path

    app = _app()
    with app.app_context():
        report = verify_chain()
        path = anchor_path()
    for problem in report.anchor_problems:
        click.echo(f"锚点文件 {path}：{problem}")
    if report.broken_id is not None:
        click.echo(f"审计日志链在第 {report.broken_id} 号记录处断开：{report.reason}（此前 {report.checked} 条正常）。")
    if not report.ok:
        sys.exit(1)
    legacy = f"（其中 {report.legacy} 条为启用密钥前的旧记录）" if report.legacy else ""
    click.echo(f"审计日志链完整，共校验 {report.checked} 条记录{legacy}，核对 {report.anchors} 个锚点（{path}）。")


@cli.command("audit-anchor")
def audit_anchor() -> None:
    """立即校验审计日志链，通过后把链头记入锚点文件并通知审计员（每晚定时任务也会做）。"""
    from portal.audit.services import verify_and_anchor
    from portal.core.actor import SYSTEM, acting_as
    from portal.extensions import db

    app = _app()
    with app.app_context(), acting_as(SYSTEM):
        result = verify_and_anchor()
        db.session.commit()
    if result["anchor"]:
        a = result["anchor"]
        click.echo(f"已记录锚点：第 {a['row_id']} 号记录，共 {a['count']} 条，哈希 {a['hash']}（{a['path']}）。")
    elif result["broken_id"] is None and not result["anchor_problems"]:
        click.echo("审计日志为空，无需锚定。")
    else:
        found = [f"第 {result['broken_id']} 号记录：{result['reason']}"] if result["broken_id"] else []
        click.echo("校验未通过，未记录锚点：" + "；".join([*found, *result["anchor_problems"]]))
        sys.exit(1)


@cli.command("rotate-data-key")
def rotate_data_key() -> None:
    """用新的数据密钥（PORTAL_DATA_KEY）重新加密证件号、电话等并重算检索摘要；原密钥放在 PORTAL_DATA_KEY_PREVIOUS。
    须先停止网页与后台进程（docs/security.md）。"""
    from portal.core import keyrotation
    from portal.core.actor import SYSTEM, acting_as
    from portal.extensions import db

    app = _app()
    with app.app_context(), acting_as(SYSTEM):
        try:
            report = keyrotation.rotate()
        except keyrotation.RotationError as error:
            raise click.ClickException(error.message) from None
        db.session.commit()
    done = ("、".join(f"{table} {count} 行" for table, count in report.rewritten.items())
            or "没有需要改动的数据（已是新密钥）")
    click.echo(f"数据密钥轮换完成：{done}。")
    for column, count in report.unhashable.items():
        click.echo(f"注意：{column} 有 {count} 行以脱敏形式保存（如以证件号登记、尚未匹配患者的计划条目），"
                   "无法按新密钥重算摘要，这些条目需在计划页手工指定患者。")
    click.echo("确认门户运行正常后，从配置中删除 PORTAL_DATA_KEY_PREVIOUS，并妥善保管新密钥（与备份一起）。")


def _sqlite_path() -> Path:
    url = Config.DATABASE_URL
    if not url.startswith("sqlite:///"):
        raise click.ClickException(
            "backup/restore 只用于内置 SQLite 数据库；PostgreSQL 请使用 pg_dump / pg_restore（见 docs/operations.md）。"
        )
    return Path(url[len("sqlite:///"):])


@cli.command()
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="备份文件 (.tar.gz)")
def backup(output: str) -> None:
    """备份内置 SQLite 数据库与 instance/ 目录（在线一致性备份）。"""
    db_path = _sqlite_path()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "portal.db"
        source = sqlite3.connect(db_path)
        target = sqlite3.connect(copy)
        with target:
            source.backup(target)  # consistent even while the portal writes
        source.close()
        target.close()
        with tarfile.open(output, "w:gz") as tar:
            tar.add(copy, arcname="portal.db")
            for name in BACKUP_EXTRAS:
                if (INSTANCE / name).exists():
                    tar.add(INSTANCE / name, arcname=name)
    click.echo(f"已备份到 {output}")


@cli.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="不再确认")
def restore(archive: str, yes: bool) -> None:
    """从备份文件恢复内置 SQLite 数据库（请先停止门户）。"""
    db_path = _sqlite_path()
    if not yes:
        click.confirm(f"将用 {archive} 覆盖 {db_path}，确定继续？", abort=True)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive, "r:gz") as tar:
        # Only the files a backup holds, as plain files (never links or paths outside the folder).
        for member in tar.getmembers():
            if member.isfile() and member.name in ("portal.db", *BACKUP_EXTRAS):
                with tar.extractfile(member) as source, open(Path(tmp) / member.name, "wb") as target:
                    shutil.copyfileobj(source, target)
        restored = Path(tmp) / "portal.db"
        if not restored.exists():
            raise click.ClickException("备份文件中没有 portal.db。")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        shutil.copy2(restored, db_path)
        for name in BACKUP_EXTRAS:
            if (Path(tmp) / name).exists():
                shutil.copy2(Path(tmp) / name, INSTANCE / name)
    # Anchors taken after the backup name audit records the restored database no longer has: keep them aside.
    from portal.core.audit_chain import ANCHOR_FILE

    anchors = Path(Config.AUDIT_ANCHOR_PATH or INSTANCE / ANCHOR_FILE)
    if anchors.exists():
        kept = anchors.with_name(f"{anchors.name}.before-restore-{int(time.time())}")
        anchors.rename(kept)
        click.echo(f"审计锚点文件已移到 {kept}（其中的锚点晚于本备份）；今晚的定时任务会重新开始记录锚点。")
    click.echo("已恢复。请运行 python cli.py upgrade 后再启动门户。")


if __name__ == "__main__":
    cli()
