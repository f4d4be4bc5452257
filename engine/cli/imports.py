"""`campaign import customers|orders|returns FILE`."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from engine.bootstrap import Adapters, codebook
from engine.cli.context import Context
from engine.cli.import_runtime import bulk_gc, parser_pool
from engine.cli.ui import import_report, row_progress
from engine.core.counts import ImportSummary
from engine.core.customers import Origin, Source
from engine.core.orders import OrderOptions
from engine.db.attribution import SqlResponses, SqlResponseUnits
from engine.db.ledger import SqlLedger
from engine.errors import InputFileError
from engine.files import CsvFile, RejectsFile, open_csv
from engine.services.business import Batch, Ingested, ingest_mail, run_batch
from engine.services.importing import FileInfo, import_customers, import_orders
from engine.services.ports import Progress
from engine.services.responding import campaign_rules, credit_orders
from engine.settings import CUSTOMER_FIELDS, ORDER_FIELDS

MAP_HELP = "Column mapping FIELD=COLUMN (repeatable); overrides imports.*_columns in config."


@click.group("import")
def import_() -> None:
    """Import customers or orders from CSV files (UTF-8, BOM tolerated).

    Every good row is written; every bad row (an invalid value, too many
    cells, bytes that are not UTF-8) goes to a rejects CSV with its line and
    reason. Re-importing a file changes nothing.
    """


@import_.command("customers")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--source",
    "source_spec",
    default="internal",
    show_default=True,
    help="internal (own business data) or external:NAME (a bought or rented list).",
)
@click.option(
    "--trust",
    type=click.IntRange(0, 100),
    help="Trust level 0-100 of this source (default from imports.trust in config).",
)
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN", help=MAP_HELP)
@click.option("--rejects", type=click.Path(path_type=Path), help="Where to write rejected rows.")
@click.pass_obj
def customers(
    ctx: Context,
    file: Path,
    source_spec: str,
    trust: int | None,
    mapping: tuple[str, ...],
    rejects: Path | None,
) -> None:
    """Merge customers from FILE: one customer per person, every bad row rejected with its reason.

    Rows match existing customers on the source's external id, then e-mail
    (case-insensitive), then phone (E.164). Internal data wins over external;
    within a source the newer record (its `updated_at`, else the import time)
    wins; nothing already known is erased. Columns that are not mapped to a
    field are kept as custom attributes. Re-importing a file changes nothing.
    """
    source = parse_source(source_spec, trust, ctx.adapters)
    import_customer_file(
        ctx.adapters,
        ctx.console,
        file,
        source,
        now=ctx.now(),
        overrides=parse_map(mapping, CUSTOMER_FIELDS),
        rejects=rejects,
    )


@import_.command("orders")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--source",
    default="internal",
    show_default=True,
    help="System the orders come from; order ids are unique within it.",
)
@click.option(
    "--customer-source",
    help="Source whose external ids the customer_id column holds (default: same as --source).",
)
@click.option("--map", "mapping", multiple=True, metavar="FIELD=COLUMN", help=MAP_HELP)
@click.option("--rejects", type=click.Path(path_type=Path), help="Where to write rejected rows.")
@click.pass_obj
def orders(
    ctx: Context,
    file: Path,
    source: str,
    customer_source: str | None,
    mapping: tuple[str, ...],
    rejects: Path | None,
) -> None:
    """Add orders from FILE; orders already imported are skipped, unknown customers rejected."""
    import_order_file(
        ctx.adapters,
        ctx.console,
        file,
        source,
        now=ctx.now(),
        customer_source=customer_source,
        overrides=parse_map(mapping, ORDER_FIELDS),
        rejects=rejects,
    )


def import_customer_file(
    adapters: Adapters,
    console: Console,
    file: Path,
    source: Source,
    *,
    now: datetime,
    overrides: dict[str, str] | None = None,
    rejects: Path | None = None,
) -> ImportSummary:
    """Import one customer CSV with a progress bar and a report."""
    settings = adapters.settings.imports

    def run(table: CsvFile, info: FileInfo, sink: RejectsFile, progress: Progress) -> ImportSummary:
        with parser_pool(settings, table.lines) as (pool, in_flight):
            return import_customers(
                table,
                info,
                source=source,
                mapping=settings.customer_mapping() | (overrides or {}),
                options=adapters.parse_options(),
                batch_size=settings.batch_size,
                store=adapters.customers,
                log=adapters.log,
                rejects=sink,
                now=now,
                progress=progress,
                executor=pool,
                in_flight=in_flight,
            )

    label = f"customers from {file.name} ({source.name})"
    return _import_file(adapters, console, file, label, rejects, now, run)


def import_order_file(
    adapters: Adapters,
    console: Console,
    file: Path,
    source: str,
    *,
    now: datetime,
    customer_source: str | None = None,
    overrides: dict[str, str] | None = None,
    rejects: Path | None = None,
) -> ImportSummary:
    """Import one order CSV with a progress bar and a report."""
    settings = adapters.settings
    options = OrderOptions(settings.currency.base, settings.currency.rates, adapters.zone, now)

    store = adapters.orders(source, credit_at=now)

    # Writer threads, so that the database works while the next batches
    # parse. On SQLite, parser processes too, as for customers (a batch goes
    # there as text, so shipping it costs next to nothing): 1M orders went
    # from 57-61k to 68k rows/s. Not on PostgreSQL, whose two server
    # processes loading batches are the other half of the work: on the same
    # two cores, parser processes slowed it from 61-63k to 52k rows/s.
    in_process = adapters.engine.dialect.name == "sqlite"

    def run(table: CsvFile, info: FileInfo, sink: RejectsFile, progress: Progress) -> ImportSummary:
        with (
            parser_pool(settings.imports, table.lines if in_process else 0) as (pool, in_flight),
            ThreadPoolExecutor(store.writers, thread_name_prefix="order-writer") as writer,
        ):
            return import_orders(
                table,
                info,
                source=source,
                customer_source=customer_source or source,
                mapping=settings.imports.order_mapping() | (overrides or {}),
                options=options,
                batch_size=settings.imports.batch_size,
                store=store,
                log=adapters.log,
                rejects=sink,
                now=now,
                progress=progress,
                writer=writer,
                executor=pool,
                in_flight=in_flight,
            )

    label = f"orders from {file.name}"
    summary = _import_file(adapters, console, file, label, rejects, now, run)
    credit_imported_orders(adapters, console, source, now, summary.batch_id, store.credited())
    return summary


def credit_imported_orders(
    adapters: Adapters,
    console: Console,
    source: str,
    now: datetime,
    batch_id: int | None,
    written: int | None = None,
) -> Counter[str]:
    """Purchase responses for the orders of import batch `batch_id` (None: of
    `source`, every order without one), set-based by page; `written`: the
    ``none`` responses the import's batches already wrote (all there were)."""
    rules = campaign_rules(adapters.launches.all(), adapters.zone)
    units = SqlResponseUnits(adapters.engine)
    codes = codebook(adapters.settings)
    done = credit_orders(units, rules, codes, source, now, batch_id, written=written)
    counts = ", ".join(f"{kind} {done[kind]}" for kind in ("direct", "inferred", "none"))
    console.print(f"responses: {sum(done.values())} new ({counts})")
    return done


@import_.command("credit-orders")
@click.option("--source", default="internal", show_default=True, help="System of the orders.")
@click.pass_obj
def credit(ctx: Context, source: str) -> None:
    """Credit every order of SOURCE that has no purchase response yet.

    `import orders` does this for the orders it inserts; run this after an
    import that was interrupted before its responses were written.
    """
    credit_imported_orders(ctx.adapters, ctx.console, source, ctx.now(), None)


@import_.command("returns")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.pass_obj
def returns(ctx: Context, file: Path) -> None:
    """Returned mail from FILE (CSV: response_code or send_id, reason, returned_at).

    Each return is a ``returned`` event on the mail send and suppresses the
    customer's postal address for mail only. Re-importing changes nothing.
    """
    done = import_returns(ctx.adapters, file, now=ctx.now())
    ctx.console.print(
        f"returns: {done.events} applied, {done.suppressed} addresses suppressed, "
        f"{done.quarantined} quarantined (see quarantined_events)"
    )


def import_returns(adapters: Adapters, file: Path, *, now: datetime) -> Ingested:
    """Returned-mail rows through the same path as ``POST /webhooks/mail``."""
    data = file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # one file is one batch: refused whole, nothing stored
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start]
        raise InputFileError(f"{file}:{line}: not UTF-8: byte 0x{byte:02X}") from None
    rows = [
        {"type": "returned", "occurred_at": row.get("returned_at") or now.isoformat(), **row}
        for row in csv.DictReader(io.StringIO(text))
    ]
    codes = codebook(adapters.settings)

    def handle(unit: Any, batch: Batch) -> Ingested:
        return ingest_mail(unit, SqlResponses(unit.conn), batch, codes)

    headers = {"file": str(file)}
    return run_batch(SqlLedger(adapters.engine), "returns_file", text, headers, rows, now, handle)[
        1
    ]


Runner = Callable[[CsvFile, FileInfo, RejectsFile, Progress], ImportSummary]


def _import_file(
    adapters: Adapters,
    console: Console,
    file: Path,
    label: str,
    rejects: Path | None,
    now: datetime,
    run: Runner,
) -> ImportSummary:
    """Open the CSV and its rejects file, run the import under a progress bar, report."""
    table = open_csv(file)
    stamp = now.strftime("%Y%m%dT%H%M%S")
    default = adapters.settings.imports.rejects_dir / f"{file.stem}.{stamp}.rejects.csv"
    sink = RejectsFile(rejects or default, table.header)
    started = time.perf_counter()
    try:
        with bulk_gc(), row_progress(console, label, table.lines) as progress:
            summary = run(table, FileInfo(str(file), table.sha256), sink, progress)
    finally:
        sink.close()
    import_report(console, label, summary, time.perf_counter() - started)
    return summary


def parse_source(spec: str, trust: int | None, adapters: Adapters) -> Source:
    """`internal`, `internal:NAME` or `external:NAME` -> Source."""
    kind, _, name = spec.partition(":")
    if kind not in ("internal", "external") or (kind == "external" and not name.strip()):
        raise click.BadParameter("use internal or external:NAME", param_hint="--source")
    origin = Origin(kind)
    default_trust = getattr(adapters.settings.imports.trust, kind)
    label = "internal" if kind == "internal" and not name else f"{kind}:{name.strip()}"
    return Source(label, origin, default_trust if trust is None else trust)


def parse_map(pairs: tuple[str, ...], fields: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise click.BadParameter(f"{pair!r}: use FIELD=COLUMN", param_hint="--map")
        if field.strip() not in fields:
            raise click.BadParameter(
                f"unknown field {field!r}; known: {', '.join(fields)}", param_hint="--map"
            )
        mapping[field.strip()] = column.strip()
    return mapping
