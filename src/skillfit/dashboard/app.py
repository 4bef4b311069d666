"""The dashboard's web app: runs, a run (live), lineage and diffs, launch, compare.

Server-rendered pages (Starlette + Jinja2, autoescaped; every rendered value also passes
through `redact`), charts as inline SVG, one small script that refreshes the live parts of a
running run's page. Pages name runs by their listed names (see `names`), never by paths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from skillfit.dashboard import compare as compare_view
from skillfit.dashboard import view_model as vm
from skillfit.dashboard.diffs import counts, line_diff
from skillfit.dashboard.launcher import Launcher, LaunchError, configs_in
from skillfit.dashboard.names import BadName, Listing, list_root
from skillfit.dashboard.record_cache import RecordCache
from skillfit.dashboard.render import environment
from skillfit.dashboard.run_view import live_view, test_view
from skillfit.dashboard.security import Access, AccessMiddleware
from skillfit.dashboard.stopping import GRACE_SECONDS, KILL_AFTER_SECONDS
from skillfit.models.redact import redact, redact_obj

REFRESH_SECONDS = 3


class Dashboard:
    """The pages. GET pages are plain functions (Starlette runs them in its thread pool, so
    reading many runs never holds up another page); forms are read asynchronously."""

    def __init__(
        self, root: Path, access: Access, configs: Path | None = None, refresh: float = 3.0
    ) -> None:
        self.root = root.resolve()
        self.refresh = refresh
        self.access = access
        self.launcher = Launcher(self.root, configs)
        # Seconds a stopped run gets after ^C before SIGTERM, and after SIGTERM before SIGKILL.
        self.stop_grace, self.stop_kill_after = GRACE_SECONDS, KILL_AFTER_SECONDS
        self.env = environment()
        self.records = RecordCache(lambda path: vm.load(path))

    # ---- helpers ------------------------------------------------------------------------

    def listing(self) -> Listing:
        return list_root(self.root)

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            csrf=self.access.csrf,
            root=str(self.root),
            refresh=self.refresh,
            **context,
        )
        return HTMLResponse(html, status_code=status_code)

    def error(self, message: str, status_code: int = 400) -> HTMLResponse:
        return self.page("error.html", status_code=status_code, message=message)

    def status_of(self, name: str, rec: Any) -> tuple[str, str]:
        """The record's status, told more exactly for runs this dashboard started."""
        launch = self.launcher.get(name)
        status, reason = rec.status, rec.status_reason
        if status == "failed" and reason.startswith("interrupted"):
            # ^C or Stop: nothing went wrong, and the run resumes where it stopped.
            status, reason = "stopped", "interrupted: resume it to go on"
        if launch is not None and launch.exit_code is None and status != "done":
            return "running", f"started here (process {launch.pid})"
        stop = self.stop_of(name, rec, launch)
        if stop is not None and status in ("stale", "failed") and launch is None:
            return "stopped", "stopped from the dashboard: resume it to go on"
        if launch is None or status in ("running", "done"):
            return status, reason  # e.g. resumed in a terminal after a stop here
        if launch.outcome == "stopped":
            return "stopped", "stopped from the dashboard: resume it to go on"
        if launch.outcome == "failed" and status != "failed":
            return "failed", self.launcher.error_line(name) or f"exit code {launch.exit_code}"
        return status, reason

    def stop_of(self, name: str, rec: Any, launch: Any) -> Any:
        """The record of a Stop pressed here for the run's current process, if any."""
        stop = self.launcher.stops.get(name)
        if stop is None:
            return None
        starts = [e for e in rec.events if e.event == "process_start"]
        pid = starts[-1].data.get("pid") if starts else None
        if launch is not None and launch.pid == stop.pid:
            return stop
        return stop if pid == stop.pid else None

    def guarded(self, page: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """`page`, saying in a page (not a bare 500) what went wrong if a run's files hold
        something no reader foresaw."""

        @functools.wraps(page)
        def safe(request: Request) -> Response:
            try:
                return page(request)
            except Exception as exc:
                name = request.query_params.get("name", "")
                what = f"{name}: " if name else ""
                return self.error(
                    f"cannot show {what}{type(exc).__name__}: {redact(str(exc))[:300]} "
                    "(a file of the run may be damaged)",
                    500,
                )

        return safe

    # ---- pages --------------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        listing = self.listing()
        rows: list[Any] = []
        self.records.keep_only(set(listing.runs.values()))
        for name, path in listing.runs.items():
            try:
                rec = self.records.get(path)
            except Exception as exc:  # a run being written may be half there
                rows.append({"name": name, "broken": redact(str(exc))[:200]})
                continue
            row = vm.run_row(name, rec)
            row.status, row.status_reason = self.status_of(name, rec)
            rows.append(row)
        # Launched here but not (yet) a run: starting, or failed before writing anything.
        for launch in self.launcher.all():
            if launch.name not in listing.runs:
                status = "starting" if launch.exit_code is None else launch.outcome
                error = self.launcher.error_line(launch.name) if status == "failed" else ""
                rows.append(
                    {"name": launch.name, "launch": launch, "status": status, "error": error}
                )
        running = any(
            (r.get("status") if isinstance(r, dict) else r.status) in ("running", "starting")
            for r in rows
        )
        template = "runs_table.html" if request.query_params.get("fragment") else "index.html"
        return self.page(
            template,
            rows=rows,
            compares=sorted(listing.compares),
            running=running,
            # Reload the page when a run starts or ends; update the figures in place meanwhile.
            signature=",".join(
                f"{r['name']}={r.get('status', '')}"
                if isinstance(r, dict)
                else f"{r.name}={r.status}"
                for r in rows
            ),
        )

    def _run(self, request: Request) -> tuple[str, Any]:
        name = request.query_params.get("name", "")
        path = self.listing().run(name)
        return name, vm.load(path)

    def starting(self, request: Request, fragment: bool = False) -> Response | None:
        """A run launched here that has written nothing yet (or failed before it could)."""
        name = request.query_params.get("name", "")
        try:
            launch = self.launcher.get(name)
        except BadName:
            return None
        if launch is None:
            return None
        status = "starting" if launch.exit_code is None else launch.outcome
        context: dict[str, Any] = {
            "name": name,
            "status": status,
            "launch": launch,
            "log": self.launcher.log_tail(name) if launch.exit_code is not None else "",
            "error": self.launcher.error_line(name) if status == "failed" else "",
        }
        return self.page("starting_live.html" if fragment else "starting.html", **context)

    def run(self, request: Request) -> Response:
        try:
            name, rec = self._run(request)
        except BadName as exc:
            return self.starting(request) or self.error(str(exc), 404)
        units = vm.units(rec)
        versions = vm.versions(rec, units)
        refs = vm.skill_refs(rec, units)
        a = request.query_params.get("a") or (refs[0][0] if refs else "")
        b = request.query_params.get("b") or (f"v{rec.best_version}" if refs else "")
        status, reason = self.status_of(name, rec)
        launch = self.launcher.get(name)
        can_stop = status == "running" and (
            (launch is not None and launch.exit_code is None)
            or self.launcher.external_pid(rec.events, Path(rec.meta.run_dir)) is not None
        )
        return self.page(
            "run.html",
            can_stop=can_stop,
            name=name,
            rec=rec,
            live=self.live_context(name, rec),
            units=units,
            versions=versions,
            refs=refs,
            a=a,
            b=b,
            status=status,
            status_reason=reason,
            launch=launch,
            log=self.launcher.log_tail(name) if launch and launch.outcome == "failed" else "",
            config=redact_obj(rec.meta.config),
            test=test_view(rec),
        )

    def live_context(self, name: str, rec: Any) -> dict[str, Any]:
        status, reason = self.status_of(name, rec)
        stop = self.stop_of(name, rec, self.launcher.get(name))
        return live_view(name, rec, status, reason, stop)

    def live(self, request: Request) -> Response:
        try:
            name, rec = self._run(request)
        except BadName as exc:
            return self.starting(request, fragment=True) or PlainTextResponse(
                str(exc), status_code=404
            )
        vm.units(rec)  # notes damaged step files, as the full page does
        return self.page("live.html", live=self.live_context(name, rec))

    def diff(self, request: Request) -> Response:
        try:
            name, rec = self._run(request)
        except BadName as exc:
            return self.error(str(exc), 404)
        units = vm.units(rec)
        refs = vm.skill_refs(rec, units)
        a = request.query_params.get("a", "")
        b = request.query_params.get("b", "")
        text_a, text_b = vm.skill_text(rec, a), vm.skill_text(rec, b)
        if text_a is None or text_b is None:
            return self.error(f"no skill version {a if text_a is None else b!r} in {name}", 404)
        lines = line_diff(text_a, text_b)
        added, removed = counts(lines)
        labels = dict(refs)
        return self.page(
            "diff.html",
            name=name,
            rec=rec,
            refs=refs,
            a=a,
            b=b,
            label_a=labels.get(a, a),
            label_b=labels.get(b, b),
            lines=lines,
            added=added,
            removed=removed,
            same=text_a == text_b,
            damaged=rec.damaged,
        )

    def edit(self, request: Request) -> Response:
        try:
            name, rec = self._run(request)
        except BadName as exc:
            return self.error(str(exc), 404)
        key = request.query_params.get("unit", "")
        try:
            index = int(request.query_params.get("edit", "0"))
        except ValueError:
            index = -1
        unit, edit, trajs, reading = vm.behind_edit(rec, key, index)
        if unit is None:
            return self.error(f"no step {key!r} in {name}", 404)
        return self.page(
            "edit.html",
            name=name,
            unit=unit,
            edit=edit,
            trajs=trajs,
            reading=reading,
            damaged=rec.damaged,
        )

    def launch_form(self, request: Request) -> Response:
        return self.launch_page()

    def launch_page(self, error: str = "", form: dict[str, str] | None = None) -> HTMLResponse:
        configs = configs_in(self.launcher.configs_dir)
        return self.page(
            "launch.html",
            status_code=400 if error else 200,
            configs=sorted(configs),
            configs_dir=str(self.launcher.configs_dir or ""),
            error=error,
            form=form or {},
            keys=LAUNCH_KEYS,
            running=self.launcher.running(),
        )

    async def launch(self, request: Request) -> Response:
        form = await _form(request)
        if not self.access.csrf_ok(str(form.get("csrf", ""))):
            return PlainTextResponse("missing or wrong form token", status_code=403)
        values = dict(form)
        overrides = [
            f"{key}={values[key].strip()}" for key, _ in LAUNCH_KEYS if values.get(key, "").strip()
        ]
        overrides += [line for line in values.get("more", "").splitlines() if line.strip()]
        try:
            launch = self.launcher.start(
                values.get("name", ""), values.get("config", ""), overrides
            )
        except (LaunchError, BadName) as exc:
            return self.launch_page(error=str(exc), form=values)
        return RedirectResponse(f"/run?{urlencode({'name': launch.name})}", status_code=303)

    async def stop(self, request: Request) -> Response:
        form = await _form(request)
        if not self.access.csrf_ok(str(form.get("csrf", ""))):
            return PlainTextResponse("missing or wrong form token", status_code=403)
        name = str(form.get("name", ""))
        try:
            path = self.listing().run(name)
            launch = self.launcher.get(name)
            if launch is not None and launch.exit_code is None:
                self.launcher.stop(name, self.stop_grace, self.stop_kill_after)
            else:
                pid = self.launcher.external_pid(vm.load(path).events, path)
                if pid is None:
                    raise LaunchError(f"{name} is not running")
                self.launcher.stop_external(name, pid, self.stop_grace, self.stop_kill_after)
        except (LaunchError, BadName) as exc:
            return self.error(str(exc), 400)
        return RedirectResponse(f"/run?{urlencode({'name': name})}", status_code=303)

    async def resume(self, request: Request) -> Response:
        form = await _form(request)
        if not self.access.csrf_ok(str(form.get("csrf", ""))):
            return PlainTextResponse("missing or wrong form token", status_code=403)
        name = str(form.get("name", ""))
        try:
            path = self.listing().run(name)
            rec = vm.load(path)
            if self.status_of(name, rec)[0] == "running":
                raise LaunchError(f"{name} is running")
            if rec.status == "done":
                raise LaunchError(f"{name} has finished: nothing to resume")
            if rec.status in ("archived", "damaged", "empty"):
                raise LaunchError(f"{name} cannot be resumed: {rec.status_reason}")
            self.launcher.resume(name, path)
        except (LaunchError, BadName) as exc:
            return self.error(str(exc), 400)
        return RedirectResponse(f"/run?{urlencode({'name': name})}", status_code=303)

    def compare(self, request: Request) -> Response:
        name = request.query_params.get("name", "")
        listing = self.listing()
        try:
            path = listing.compare(name)
        except BadName as exc:
            return self.error(str(exc), 404)
        names = {p.resolve(): n for n, p in listing.runs.items()}
        # A moved comparison still links its runs: by their folder names inside it.
        names.update(
            {Path(n).relative_to(name): n for n in listing.runs if n.startswith(name + "/")}
        )
        return self.page("compare.html", name=name, view=compare_view.read(path, names))

    def health(self, request: Request) -> Response:
        return PlainTextResponse("ok")


async def _form(request: Request, limit: int = 65536) -> dict[str, str]:
    """A small url-encoded form (the dashboard's own forms); anything else reads as empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > limit:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


# The launch form's keys: the few a person changes most.
LAUNCH_KEYS = [
    ("task.name", "task"),
    ("target.model", "target model"),
    ("optimizer.model", "optimizer model"),
    ("train.epochs", "epochs"),
    ("train.max_steps", "max steps"),
    ("train.batch_size", "batch size"),
]


def create_app(
    root: str | Path = "outputs",
    *,
    access: Access | None = None,
    configs: str | Path | None = "configs",
    refresh: float = REFRESH_SECONDS,
) -> Starlette:
    """The dashboard over the runs under `root`, launching from the configs in `configs`."""
    access = access or Access()
    cfg_dir = Path(configs) if configs is not None else None
    dash = Dashboard(Path(root), access, cfg_dir, refresh=refresh)
    static = Path(__file__).parent / "static"
    routes = [
        Route("/", dash.guarded(dash.index)),
        Route("/run", dash.guarded(dash.run)),
        Route("/run/live", dash.guarded(dash.live)),
        Route("/diff", dash.guarded(dash.diff)),
        Route("/edit", dash.guarded(dash.edit)),
        Route("/launch", dash.launch_form, methods=["GET"]),
        Route("/launch", dash.launch, methods=["POST"]),
        Route("/stop", dash.stop, methods=["POST"]),
        Route("/resume", dash.resume, methods=["POST"]),
        Route("/compare", dash.compare),
        Route("/healthz", dash.health),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.dashboard = dash
    app.add_middleware(AccessMiddleware, access=access)
    return app
