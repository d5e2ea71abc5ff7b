"""The demo: a small region through the whole chain, offline, through the real command line, the
real HTTP API (``fabcoord serve``), the farm simulator and the Odoo stand-in as real servers.

``python -m scripts.demo [--out DIR] [--db URL]`` (``make demo``). Spring 2020: fablabs in
Nouvelle-Aquitaine and Pays de la Loire receive material, source more from the supplier
directories, take orders from three CHU, plan (fablabs, makers and a partner manufacturer),
print (printers and makers), assemble, inspect, ship, have a delivery signed for, send the plan's
hand-off to the partner's Odoo, sync its deliveries and report the week.

The commands run in this process (``cli.run``), as a user would type them; their whole output goes
to ``DIR/demo.log`` and the screen shows a summary. The end-to-end test runs the same scenario,
smaller, on SQLite and PostgreSQL with real OctoPrint servers beside the simulator
(:class:`Region`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from scripts import demo_http as http

ROOT = Path(__file__).resolve().parent.parent
UNITS_PER_PRINT = 4
GRAMS_PER_PRINT = 60
LOADED_GRAMS = 1000
PARTNER = "Plastiques de l'Ouest"


class DemoFailed(Exception):
    """A step of the scenario did not do what it should."""


@dataclass(frozen=True)
class RealPrinter:
    """An OctoPrint server (with its Virtual Printer) the farm drives beside the simulator."""

    url: str
    api_key: str


@dataclass(frozen=True)
class Region:
    """The scenario's sizes: the demo's defaults; the end-to-end test runs a smaller one.

    Frames for Poitiers come from two makers (half each); for Nantes from the farm
    (``farm_frames``, a multiple of 4, at most ``nantes``) and a maker for the rest. Bordeaux needs
    its visors in ``bordeaux_days``, sooner than the makers can deliver that many there: the plan
    gives the order to the partner manufacturer in Bordeaux, whose draft hand-off the coordinator
    sends; it delivers in two parts (two thirds, then the rest).
    """

    poitiers: int = 120
    nantes: int = 60
    bordeaux: int = 300
    bordeaux_days: int = 3
    farm_frames: int = 36
    simulated_printers: int = 3
    octoprint: tuple[RealPrinter, ...] = ()
    print_seconds: float = 2.0
    gcode: str = "G28 ; home\nG1 X10 Y10 F3000\n"

    def __post_init__(self) -> None:
        if self.farm_frames % UNITS_PER_PRINT or not 0 < self.farm_frames <= self.nantes:
            raise ValueError("farm_frames must be a positive multiple of 4, at most nantes")
        if min(self.poitiers, self.bordeaux) < 3:
            raise ValueError("poitiers and bordeaux need at least 3 visors")

    @property
    def batch(self) -> int:
        return self.poitiers + self.nantes

    @property
    def first_part(self) -> int:
        return self.bordeaux * 2 // 3


@dataclass
class Outcome:
    """What the scenario made, for its summary and the end-to-end test."""

    references: dict[str, str] = field(default_factory=dict)  # hospital slug → CMD-…
    batch: str = ""
    shipments: dict[str, str] = field(default_factory=dict)  # hospital slug → SHP-…
    documents: list[Path] = field(default_factory=list)
    seconds: float = 0.0


class Servers:
    """The servers the scenario starts, each stopped (and waited for) when the scenario ends."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *argv: str, env: dict[str, str] | None = None) -> Path:
        log = self.out / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, *argv],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=self.out,
            )
        self.running.append(process)
        return log

    def stop(self, process: subprocess.Popen[bytes] | None = None) -> None:
        for each in [process] if process else list(self.running):
            if each.poll() is None:
                each.send_signal(signal.SIGINT)
            try:
                each.wait(timeout=15)
            except subprocess.TimeoutExpired:
                each.kill()
                each.wait()
            self.running.remove(each)

    @property
    def last(self) -> subprocess.Popen[bytes]:
        return self.running[-1]


class Screen:
    """The summary a person follows: numbered steps with their time, key lines under them, and on a
    terminal a progress bar; every command's whole output goes to the log file."""

    def __init__(self, steps: int, log: TextIO, *, quiet: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(highlight=False, quiet=quiet)
        self.log, self.steps, self.step, self.started = log, steps, 0, time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=quiet or not self.console.is_terminal,
        )
        self.task = self.progress.add_task("demo", total=steps)

    def __enter__(self) -> Screen:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def title(self, text: str) -> None:
        if self.step:
            self.progress.advance(self.task)
        self.step += 1
        elapsed = time.monotonic() - self.started
        self.console.print(
            f"\n[bold]{self.step:>2}/{self.steps}[/] [dim]{elapsed:4.0f} s[/]  {text}"
        )
        self.progress.update(self.task, description=text[:40])
        self.log.write(f"\n== {self.step}. {text}\n")

    def note(self, text: str) -> None:
        from rich.text import Text

        self.console.print(Text("        " + text))
        self.log.write(f"   {text}\n")

    def show(self, text: str) -> None:
        """A command's output worth reading on the screen (a table, a plan, a trace)."""
        from rich.text import Text

        self.console.print(Text(text.rstrip("\n")), style="dim")


class Scenario:
    """The chain, step by step, on one database."""

    STEPS = 21

    def __init__(
        self, out: Path, database_url: str, region: Region, *, quiet: bool = False
    ) -> None:
        self.out, self.database_url, self.region, self.quiet = out, database_url, region, quiet
        self.outcome = Outcome()
        self.servers = Servers(out)
        self.tokens: dict[str, str] = {}
        self.odoo = ""  # the partner's Odoo (the stand-in), once started
        self.secret = f"demo-{random.randrange(10**9)}"  # the simulator's and the partner's key

    # --- running commands ------------------------------------------------------------------

    def fab(self, *argv: str, refused: bool = False) -> str:
        """Run ``fabcoord ARGV`` in this process; its output (the log gets it too).

        ``refused``: the command is expected to fail (the demo shows a refusal).
        """
        import cli

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = cli.run(["--db", self.database_url, "--actor", "demo", *argv])
        output = buffer.getvalue()
        self.log.write(f"$ fabcoord {' '.join(argv)}\n{output}")
        if refused != (code != 0):
            raise DemoFailed(f"fabcoord {' '.join(argv)} exited {code}: {output.strip()[-500:]}")
        return output

    def fab_json(self, *argv: str) -> Any:
        return json.loads(self.fab(*argv, "--json"))

    def in_days(self, days: int) -> str:
        return (date.today() + timedelta(days=days)).isoformat()

    # --- the scenario ----------------------------------------------------------------------

    def run(self) -> Outcome:
        started = time.monotonic()
        (self.out / "pdf").mkdir(parents=True, exist_ok=True)
        with (
            (self.out / "demo.log").open("w", encoding="utf-8") as self.log,
            Screen(self.STEPS, self.log, quiet=self.quiet) as self.screen,
        ):
            try:
                for step in self.steps():
                    step()
            finally:
                self.servers.stop()
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def steps(self) -> Sequence[Callable[[], None]]:
        return [
            self.create_ledger,
            self.register_fablabs,
            self.ledger_scene,
            self.register_makers,
            self.import_directories,
            self.source_and_purchase,
            self.invite_hospitals,
            self.start_intake,
            self.hospitals_order,
            self.partner_joins,
            self.plan,
            self.print_on_the_farm,
            self.makers_deliver,
            self.assemble_and_release,
            self.ship,
            self.hospital_signs,
            self.hand_off,
            self.trace,
            self.report,
            self.check_ledger,
            self.summary,
        ]

    def create_ledger(self) -> None:
        self.screen.title(f"Create the ledger ({self.database_url}), load the reference data")
        self.fab("init")
        loaded = self.fab_json("reference", "load")
        self.fab("hospital", "site", "seed")
        counts = {**loaded["unchanged"], **loaded["updated"], **loaded["added"]}
        self.screen.note(
            f"reference data: {counts.get('regions', 0)} regions, {counts.get('hospitals', 0)} "
            f"CHU/CHR, {counts.get('direccte', 0)} DIRECCTE, {counts.get('clusters', 0)} pôles "
            "de compétitivité; hospital sites seeded from public records"
        )

    def register_fablabs(self) -> None:
        self.screen.title("Register three fablabs (their cities geocoded from data/cities.csv)")
        for name, city, region in [
            ("Fablab des Usines", "Poitiers", "Nouvelle-Aquitaine"),
            ("Fablab de Niort", "Niort", "Nouvelle-Aquitaine"),
            ("Plateforme C Nantes", "Nantes", "Pays de la Loire"),
        ]:
            self.fab("fablab", "add", name, "--city", city, "--region", region)
        self.screen.note("Fablab des Usines (Poitiers), Fablab de Niort, Plateforme C Nantes")

    def ledger_scene(self) -> None:
        self.screen.title(
            "The ledger: receipts with lots, a transfer, a refusal, a count, a reversal"
        )
        usines, niort = "fablab/fablab-des-usines", "fablab/fablab-de-niort"
        self.fab("stock", "receive", "petg", "10", "--unit", "kg", "--to", usines,
                 "--ref", "BL-2020-0331", "--lot", "PETG-2020-03-A")  # fmt: skip
        self.fab("stock", "receive", "petg", "5", "--unit", "kg", "--to", usines,
                 "--ref", "BL-2020-0402", "--lot", "PETG-2020-04-B")  # fmt: skip
        self.fab("stock", "receive", "elastic", "200", "--unit", "m", "--to", usines,
                 "--ref", "BL-2020-0401", "--lot", "EL-0401")  # fmt: skip
        self.fab("stock", "move", "petg", "3", "--unit", "kg", "--from", usines, "--to", niort,
                 "--lot", "PETG-2020-03-A", "--doc", "transfer:TR-0405")  # fmt: skip
        refusal = self.fab("stock", "move", "petg", "50", "--unit", "kg", "--from", niort,
                           "--to", usines, "--lot", "PETG-2020-03-A", refused=True)  # fmt: skip
        self.screen.note("refused, nothing changed: " + refusal.strip().removeprefix("error: "))
        self.fab("stock", "adjust", "elastic", "--at", usines, "--by", "-2000",
                 "--lot", "EL-0401", "--reason", "count: 2 m of elastic torn")  # fmt: skip
        move = self.fab_json("ledger", "show", "--doc", "receipt:BL-2020-0402")[0]["move"]
        self.fab("ledger", "reverse", str(move), "--reason", "delivery BL-2020-0402 never arrived")
        self.screen.note(
            "received 10 kg + 5 kg PETG and 200 m elastic; 3 kg moved to Niort; 2 m of elastic "
            "written off after a count; the 5 kg that never arrived reversed (never deleted)"
        )
        self.screen.show(self.fab("stock", "show"))

    def register_makers(self) -> None:
        self.screen.title("Makers printing at home for the fablabs")
        for name, fablab, per_day in [
            ("Léa (Ligugé)", "fablab-des-usines", 40),
            ("Karim (Chasseneuil)", "fablab-des-usines", 30),
            ("Inès (Niort)", "fablab-de-niort", 25),
        ]:
            self.fab("makers", "add", name, "--fablab", fablab, "--declared-per-day", str(per_day))
        self.screen.note("Léa and Karim (40 and 30 frames a day) for Poitiers, Inès (25) for Niort")

    def import_directories(self) -> None:
        self.screen.title("Import supplier directories (DIRECCTE, pôle Plastipolis; samples)")
        samples = ROOT / "data" / "samples"
        for file, source, scope in [
            ("SAMPLE_direccte_auvergne-rhone-alpes.csv", "direccte",
             ["--region", "Auvergne-Rhône-Alpes"]),
            ("SAMPLE_pole_plastipolis.csv", "pole", ["--pole", "Plastipolis"]),
        ]:  # fmt: skip
            output = self.fab(
                "suppliers", "import", str(samples / file), "--source", source, *scope
            )
            self.screen.note(output.strip().splitlines()[0])

    def source_and_purchase(self) -> None:
        self.screen.title("Source PET sheets: rank suppliers, order, receive two lots")
        ranked = self.fab("sourcing", "match", "pet-sheet-a4", "--fablab", "fablab-des-usines",
                          "--qty", "1000", "--unit", "sheet")  # fmt: skip
        self.screen.show(ranked)
        self.fab("purchase", "create", "00000001800010", "--item", "pet-sheet-a4", "--qty", "1000",
                 "--unit", "sheet", "--for", "fablab-des-usines", "--price", "0.12")  # fmt: skip
        self.fab("purchase", "send", "1")
        self.fab("purchase", "confirm", "1", "--expected", self.in_days(5))
        for qty, lot in [("600", "PET-OYO-0412"), ("400", "PET-OYO-0415")]:
            self.fab("purchase", "receive", "1", "--qty", qty, "--unit", "sheet", "--lot", lot)
        self.fab("purchase", "pdf", "1", "--out", str(self.out / "pdf" / "purchase-order-1.pdf"))
        self.screen.note("purchase order 1: 1,000 sheets sent, confirmed, received as 600 + 400")

    def invite_hospitals(self) -> None:
        self.screen.title("Hospitals get secret order links, one per person")
        for hospital, person in self.contacts().items():
            output = self.fab("hospital", "invite", hospital, "--for", person)
            link = next(word for word in output.split() if "/h/" in word)
            self.tokens[hospital] = link.rsplit("/h/", 1)[1]
            self.screen.note(f"{hospital}: a link for {person}")

    def contacts(self) -> dict[str, str]:
        return {
            "chu-de-poitiers": "Claire Martin <claire.martin@chu-poitiers.fr>",
            "chu-de-nantes": "Yann Le Goff <yann.legoff@chu-nantes.fr>",
            "chu-de-bordeaux": "Sophie Durand <sophie.durand@chu-bordeaux.fr>",
        }

    def start_intake(self) -> None:
        self.screen.title("Start the intake web server (fabcoord serve) on 127.0.0.1")
        port = http.free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self.servers.start(
            "serve",
            "-m", "cli", "--db", self.database_url, "serve", "--host", "127.0.0.1",
            "--port", str(port),
        )  # fmt: skip
        self.wait(f"{self.url}/api/v1/orders", log)
        self.screen.note(f"serving {self.url} (log: {log})")

    def hospitals_order(self) -> None:
        self.screen.title("Three CHU order visors through the JSON API (POST /api/v1/orders)")
        region = self.region
        for hospital, quantity, days, department, address in [
            ("chu-de-poitiers", region.poitiers, 10, "Réanimation médicale",
             "2 rue de la Milétrie, 86021 Poitiers"),
            ("chu-de-nantes", region.nantes, 12, "Urgences",
             "1 place Alexis-Ricordeau, 44093 Nantes"),
            ("chu-de-bordeaux", region.bordeaux, region.bordeaux_days, "Pneumologie",
             "Place Amélie Raba-Léon, 33000 Bordeaux"),
        ]:  # fmt: skip
            created = http.order(
                self.url,
                self.tokens[hospital],
                quantity=quantity,
                days=days,
                department=department,
                contact=self.contacts()[hospital],
                address=address,
                purchase_order=f"BC-2020-{len(self.outcome.references) + 1:04d}",
            )
            reference = created["reference"]
            self.outcome.references[hospital] = reference
            self.screen.note(
                f"{reference}: {hospital}, {quantity} visors in {days} days, "
                f"their purchase order {created.get('purchase_order', '')}"
            )
        for reference in self.outcome.references.values():
            self.fab("orders", "accept", reference)
        self.screen.note("the coordinator accepts the three orders")

    def plan(self) -> None:
        self.screen.title(
            "Plan: allocate the orders to fablabs, makers and the partner (OR-Tools), accept"
        )
        self.screen.show(self.fab("plan"))
        explained = self.fab("plan", "explain", self.outcome.references["chu-de-bordeaux"])
        self.screen.show(explained)
        accepted = self.fab("plan", "accept")
        if PARTNER not in accepted:
            raise DemoFailed(f"the plan gives the partner nothing: {accepted.strip()}")
        self.screen.note(
            "plan accepted: each order is planned with its expected delivery date; the partner's "
            "allocation is recorded as a draft hand-off, not sent"
        )

    def print_on_the_farm(self) -> None:
        region = self.region
        printers = region.simulated_printers + len(region.octoprint)
        self.screen.title(
            f"The print farm: {printers} printers print {region.farm_frames} frames for Nantes"
        )
        env = {"DEMO_PRINTER_KEY": self.secret}
        gcode = self.out / "visor-frame.gcode"
        gcode.write_text(region.gcode)
        self.fab("designs", "add", "Prusa RC3", "--gcode", str(gcode),
                 "--units-per-print", str(UNITS_PER_PRINT), "--material", "petg",
                 "--grams", str(GRAMS_PER_PRINT), "--minutes", "90")  # fmt: skip
        urls: list[tuple[str, str]] = []
        if region.simulated_printers:
            log = self.servers.start(
                "simulator",
                "-m", "print_farm.simulator", "--printers", str(region.simulated_printers),
                "--api-key", self.secret, "--print-seconds", str(region.print_seconds),
                "--finishing-seconds", "0.3",
            )  # fmt: skip
            port = self.simulator_port(log)
            urls += [
                (f"http://127.0.0.1:{port}/p/{n}", "DEMO_PRINTER_KEY")
                for n in range(region.simulated_printers)
            ]
        for n, real in enumerate(region.octoprint):
            env[f"DEMO_OCTOPRINT_KEY_{n}"] = real.api_key
            urls.append((real.url, f"DEMO_OCTOPRINT_KEY_{n}"))
        os.environ.update(env)  # the printers name the variables that hold their keys
        for n, (url, key_env) in enumerate(urls):
            name = f"Prusa-{n}" if "/p/" in url else f"OctoPrint-{n}"
            self.fab("printers", "add", name, "--fablab", "fablab-des-usines", "--url", url,
                     "--api-key-env", key_env, "--auto-clear")  # fmt: skip
            self.fab("printers", "load", name, "--material", "petg", "--lot", "PETG-2020-03-A",
                     "--grams", str(LOADED_GRAMS))  # fmt: skip
        self.fab("farm", "enqueue", "Prusa RC3", "--count", str(region.farm_frames),
                 "--order", self.outcome.references["chu-de-nantes"],
                 "--fablab", "fablab-des-usines", "--needed-by", self.in_days(12))  # fmt: skip
        self.servers.start(
            "farm", "-m", "cli", "--db", self.database_url, "farm", "run", "--no-live"
        )
        farm = self.servers.last
        self.wait_for_jobs(farm)
        self.servers.stop(farm)
        jobs = self.fab_json("farm", "queue", "--all")
        done = [job for job in jobs if job["status"] == "done"]
        by_printer = sorted({job["printer"] for job in done})
        frames = self.quantity("visor-frame", "fablab/fablab-des-usines")
        self.screen.note(
            f"{len(done)} of {len(jobs)} jobs done on {', '.join(by_printer)}; "
            f"frames now at the Fablab des Usines: {frames:g}"
        )

    def makers_deliver(self) -> None:
        self.screen.title("Makers bring the frames they printed at home")
        region, refs = self.region, self.outcome.references
        half = region.poitiers // 2
        deliveries = [
            ("Léa (Ligugé)", half, refs["chu-de-poitiers"]),
            ("Karim (Chasseneuil)", region.poitiers - half, refs["chu-de-poitiers"]),
            ("Karim (Chasseneuil)", region.nantes - region.farm_frames, refs["chu-de-nantes"]),
        ]
        for maker, frames, reference in deliveries:
            if frames:
                self.fab("makers", "deliver", maker, "--frames", str(frames), "--order", reference)
                self.screen.note(f"{maker}: {frames} frames for {reference}")

    def assemble_and_release(self) -> None:
        batch_size = self.region.batch
        self.screen.title(f"Assemble a batch of {batch_size} visors, inspect it, release it")
        assembled = self.fab_json("batch", "assemble", "--fablab", "fablab-des-usines",
                                  "--qty", str(batch_size), "--design", "Visière Prusa RC3")  # fmt: skip
        batch = self.outcome.batch = assembled["number"]
        refusal = self.fab("batch", "inspect", batch, "--all-pass", refused=True)
        self.screen.note("an inspection without a cleaning record is refused: " + refusal.strip())
        inspection = self.out / "inspection.json"
        inspection.write_text(
            json.dumps(
                {
                    "inspector": "Marie Dubois (responsable qualité)",
                    "results": dict.fromkeys(
                        ["aspect", "dimensions", "optics", "fit", "cleaning"], True
                    ),
                    "cleaning_product": "Surfanios Premium",
                    "cleaning_date": date.today().isoformat(),
                },
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        self.fab("batch", "inspect", batch, "--from-file", str(inspection))
        for document in ("record", "labels", "notice"):
            self.fab("batch", document, batch, "--out", str(self.out / "pdf"))
        self.screen.note(f"batch {batch} released; batch record, box labels and notice written")

    def ship(self) -> None:
        self.screen.title("Ship to Poitiers and Nantes, each with its delivery note")
        region, refs = self.region, self.outcome.references
        for hospital, qty, carrier in [
            ("chu-de-poitiers", region.poitiers, "Chronopost"),
            ("chu-de-nantes", region.nantes, "Coursier CHU"),
        ]:
            shipped = self.fab_json("ship", refs[hospital], "--batch", self.outcome.batch,
                                    "--qty", str(qty), "--carrier", carrier,
                                    "--out", str(self.out / "pdf"))  # fmt: skip
            self.outcome.shipments[hospital] = shipped["shipment"]
            self.screen.note(
                f"{shipped['shipment']}: {qty} visors for {refs[hospital]} ({carrier})"
            )

    def hospital_signs(self) -> None:
        self.screen.title("CHU de Poitiers signs for its delivery through the API")
        hospital = "chu-de-poitiers"
        status = http.receipt(
            self.url,
            self.tokens[hospital],
            self.outcome.references[hospital],
            self.outcome.shipments[hospital],
            received=self.region.poitiers,
            signed_by="Dr Claire Martin",
        )
        self.screen.note(
            f"{self.region.poitiers} received, signed by Dr Claire Martin; order {status}"
        )

    def partner_joins(self) -> None:
        self.screen.title(
            "A partner manufacturer in Bordeaux declares its capacity, on its Odoo (the "
            "project's stand-in)"
        )
        port = http.free_port()
        self.odoo = f"http://127.0.0.1:{port}"
        log = self.servers.start(
            "odoo-standin",
            "-m", "suppliers.handoff.standin", "--port", str(port), "--version", "17",
            env={"FABCOORD_STANDIN_API_KEY": self.secret},
        )  # fmt: skip
        self.wait(f"{self.odoo}/web/version", log)
        os.environ["DEMO_PARTNER_KEY"] = self.secret
        self.fab("partners", "add", PARTNER, "--odoo-url", self.odoo, "--database", "partner",
                 "--login", "admin", "--api-key-env", "DEMO_PARTNER_KEY",
                 "--capacity-per-day", "500", "--minimum-order", "1",
                 "--lead-time-days", "1", "--city", "Bordeaux")  # fmt: skip
        self.fab("partners", "check", PARTNER)
        self.screen.note(
            f"{PARTNER} (Bordeaux): 500 visors a day after 1 day of lead time, Odoo 17 checked"
        )

    def hand_off(self) -> None:
        region = self.region
        self.screen.title(
            f"Send the plan's draft hand-off ({region.bordeaux} visors for Bordeaux) to the "
            "partner's Odoo, sync its deliveries"
        )
        [draft] = self.fab_json("handoff", "list", "--state", "draft")
        if draft["orders"] != [self.outcome.references["chu-de-bordeaux"]]:
            raise DemoFailed(f"the plan's draft hand-off serves {draft['orders']}, not Bordeaux")
        number = str(draft["id"])
        shown = self.fab_json("handoff", "show", number)
        served = ", ".join(
            f"{x['reference']}/{x['line']} ({x['quantity']})" for x in shown["lines"]
        )
        self.screen.note(
            f"draft hand-off {number} of plan {shown['plan']}: {shown['quantity']} visors for "
            f"{served} by {shown['needed_by']}, to {shown['deliver_to']}"
        )
        self.fab("handoff", "send", number)
        self.screen.note(f"hand-off {number} sent: a confirmed sale order in the partner's Odoo")
        for part in (region.first_part, region.bordeaux - region.first_part):
            http.standin(self.odoo, "deliver", {"ref": draft["reference"], "quantity": part})
            self.fab("handoff", "sync")
            self.screen.note(f"the partner delivers {part} visors; synced back into the ledger")
        self.fab("handoff", "export", number, "--to", str(self.out / "pdf"))

    def trace(self) -> None:
        self.screen.title("Trace a lot of PET sheets to the hospitals that got it")
        self.screen.show(self.fab("trace", "PET-OYO-0412"))

    def report(self) -> None:
        week = date.today().strftime("%G-W%V")
        self.screen.title(f"The weekly report ({week}) with its charts")
        out = self.out / "pdf" / f"weekly-{week}.pdf"
        self.fab("report", "weekly", "--week", week, "--out", str(out),
                 "--charts", str(self.out / "charts"))  # fmt: skip
        self.screen.note(f"{out} and PNG charts in {self.out / 'charts'}")

    def check_ledger(self) -> None:
        self.screen.title("Check the ledger: balances against the moves, conservation")
        self.screen.note(self.fab("ledger", "check").strip().splitlines()[-1])

    def summary(self) -> None:
        self.screen.title("Summary")
        self.screen.show(self.fab("orders", "list"))
        documents = self.outcome.documents = sorted((self.out / "pdf").glob("*.pdf"))
        self.screen.note(f"{len(documents)} documents (PDF) in {self.out / 'pdf'}:")
        for path in documents:
            self.screen.note(f"  {path.name}")

    # --- helpers ---------------------------------------------------------------------------

    def wait(self, url: str, log: Path) -> None:
        try:
            http.wait(url)
        except http.HttpFailed as error:
            raise DemoFailed(f"{error}; its log: {log}") from None

    def simulator_port(self, log: Path) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in log.read_text().splitlines():
                if line.startswith("READY "):
                    return int(json.loads(line.removeprefix("READY "))["ports"][0])
            time.sleep(0.1)
        raise DemoFailed(f"the printer simulator did not start; its log: {log}")

    def wait_for_jobs(self, farm: subprocess.Popen[bytes], timeout_s: float = 180.0) -> None:
        """Until every farm job is done (or failed, cancelled, held), reading the database."""
        from sqlalchemy import text

        from fabcoord.config import Settings
        from fabcoord.db import make_engine

        engine = make_engine(Settings(database_url=self.database_url))
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if farm.poll() is not None:
                    raise DemoFailed(
                        f"farm run stopped ({farm.returncode}); see {self.out}/farm.log"
                    )
                with engine.connect() as connection:
                    left = connection.execute(
                        text(
                            "SELECT count(*) FROM farm_job WHERE status NOT IN "
                            "('done', 'failed', 'cancelled', 'held')"
                        )
                    ).scalar_one()
                if left == 0:
                    return
                time.sleep(0.3)
        finally:
            engine.dispose()
        raise DemoFailed(f"farm jobs not done after {timeout_s:.0f} s; see {self.out}/farm.log")

    def quantity(self, item: str, location: str) -> float:
        rows = self.fab_json("stock", "show")
        return float(sum(r["qty"] for r in rows if r["item"] == item and r["location"] == location))


@contextlib.contextmanager
def fresh_directory(out: Path) -> Iterator[Path]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    yield out.resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"))
    parser.add_argument("--db", help="database URL (default: a SQLite file in --out)")
    args = parser.parse_args(argv)
    with fresh_directory(args.out) as out:
        url = args.db or f"sqlite:///{out / 'fabcoord.db'}"
        scenario = Scenario(out, url, Region())
        try:
            outcome = scenario.run()
        except (DemoFailed, http.HttpFailed) as error:
            sys.stderr.write(f"demo failed: {error}\n(whole output: {out / 'demo.log'})\n")
            return 1
    sys.stdout.write(
        f"\nDone in {outcome.seconds:.0f} s. Whole output: {out / 'demo.log'}; database: {url} "
        f"(fabcoord --db {url} …)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
