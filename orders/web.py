"""The web application: the hospital order form, status pages and the JSON API under /api/v1.

The only module importing the web framework. Handlers parse, open one unit of work, call one
service, render; ``create_app(settings)`` builds everything, nothing is built at import time."""

import logging
import threading
import uuid
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import jinja2
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from fabcoord.batches.errors import UnknownShipment
from fabcoord.config import Settings
from fabcoord.db import unit_of_work
from fabcoord.errors import DatabaseProblem, FabcoordError
from fabcoord.shipping import service as shipping
from orders import amend, amend_form, forms, service, sites
from orders.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidOrder,
    LinkNotFound,
    Unauthenticated,
)
from orders.guard import Guard
from orders.limits import Limiters, csrf_token, csrf_valid, signing_key
from orders.links import Access, authenticate
from orders.models import OrderStatus
from orders.pool import web_engine
from orders.schemas import (
    Catalogue,
    CatalogueModel,
    ErrorBody,
    OrderAmend,
    OrderCancel,
    OrderCreate,
    OrderList,
    OrderPublic,
    ReceiptIn,
    ShipmentPublic,
    SiteList,
    field_errors,
    today,
)

if TYPE_CHECKING:
    import uvicorn

logger = logging.getLogger(__name__)

WORKER_THREADS = 8
KEEP_ALIVE_S = 75
"""How long the server keeps an idle connection open. Longer than the idle expiry of the clients'
connection pools (httpx 5 s, aiohttp 15 s, nginx upstream and cloud load balancers 60 s), so a
client always drops an idle connection before the server does. With uvicorn's default (5 s, the
same as httpx's) the server closed connections just as a client reused them: the request met a
reset and the client an ``httpx.ReadError`` with nothing in the server's log (orders_bench under
back-to-back load on PostgreSQL)."""
TEMPLATES = Path(__file__).resolve().parent / "templates"
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=196, pattern=r"^[!-~]+$"),
]


def create_app(settings: Settings) -> FastAPI:
    """Build the application for ``settings`` (engine, templates, limits, routes)."""
    engine = web_engine(settings, threads=WORKER_THREADS)
    # SQLite has one writer at a time: queue writers on a lock rather than in SQLite's busy handler,
    # which sleeps in growing steps and makes latency jump under concurrent order creation
    writing: AbstractContextManager[Any] = threading.Lock() if settings.is_sqlite else nullcontext()
    secret = signing_key(settings, engine)
    limiters = Limiters.for_settings(settings)
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
    )
    templates.filters["paris"] = forms.paris_time
    templates.globals.update(
        field_labels=forms.FIELD_FR,
        statuses=forms.STATUS_FR,
        priority_labels=forms.PRIORITY_FR,
        item_label=lambda c: forms.ITEM_FR.get(c, c),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        # few threads: handlers hold the GIL or wait on one writer; more only widen the tail
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        yield
        engine.dispose()
        limiters.close()

    app = FastAPI(
        title="fabcoord — commandes de visières des hôpitaux",
        version="1.0.0",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**context), status_code=status)

    def access_for(token: str) -> Access:
        with unit_of_work(engine, read_only=True) as session:
            return authenticate(session=session, token=token)

    # --- error translation, once -----------------------------------------------------------

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    @app.exception_handler(FabcoordError)
    async def on_error(request: Request, error: FabcoordError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else {}
        if isinstance(error, DatabaseProblem):  # details (paths, hosts) are for the logs only
            logger.warning("database problem answering %s: %s", request.method, error)
            error = DatabaseProblem("service momentanément indisponible, réessayez")
            headers = {"Retry-After": "1"}
        if is_api(request):
            fields = error.fields if isinstance(error, InvalidOrder) else {}
            body = ErrorBody(detail=str(error), errors=fields).model_dump()
            return JSONResponse(body, status_code=error.http_status, headers=headers)
        title = "Page introuvable" if isinstance(error, LinkNotFound) else "Erreur"
        message = forms.NOT_FOUND if isinstance(error, LinkNotFound) else str(error)
        return page("error.html", error.http_status, title=title, message=message)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> Response:
        body = ErrorBody(detail="requête invalide", errors=field_errors(list(error.errors())))
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> Response:
        message = "page introuvable" if error.status_code == 404 else str(error.detail)
        if is_api(request):
            return JSONResponse({"detail": message, "errors": {}}, status_code=error.status_code)
        if error.status_code == 404:  # the same page as for a wrong link: nothing to learn
            return page("error.html", 404, title="Page introuvable", message=forms.NOT_FOUND)
        return page("error.html", error.status_code, title="Erreur", message=message)

    # --- the hospital's pages ----------------------------------------------------------------

    def form_page(access: Access, token: str, values: dict[str, Any], **extra: Any) -> HTMLResponse:
        with unit_of_work(engine, read_only=True) as session:
            codes = service.catalogue(session=session)
            places = sites.sites_of(session=session, hospital_id=access.hospital_id)
        return page(
            "form.html",
            extra.pop("status", 200),
            hospital=access.hospital_name,
            base=f"/h/{token}",
            csrf_token=csrf_token(secret, access.token_hash),
            items=[(code, forms.ITEM_FR.get(code, code)) for code in codes],
            sites=[(str(site.id), sites.label(site)) for site in places],
            priorities=list(forms.PRIORITY_FR.items()),
            extra_rows=[
                (n, *forms.row_names(n)) for n in range(2, forms.offered_rows(codes, values) + 1)
            ],
            today=today().isoformat(),
            values=values,
            errors=(errors := extra.pop("errors", {})),
            first_error=next((name for name in forms.FIELD_FR if name in errors), None),
            **extra,
        )

    @app.get("/h/{token}", include_in_schema=False)
    def order_form(token: str) -> Response:
        access = access_for(token)
        values = {"priority": "normal"}
        return form_page(access, token, values, form_token=str(uuid.uuid4()))

    @app.post("/h/{token}/commandes", include_in_schema=False)
    async def submit_order(token: str, request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(submit, token, values)

    def submit(token: str, values: dict[str, str]) -> Response:
        access = access_for(token)
        form_token = values.get("form_token", "")
        fresh, kept = {"form_token": str(uuid.uuid4())}, {"form_token": form_token}
        if not csrf_valid(secret, access.token_hash, values.get("csrf_token")):
            banner = "Formulaire expiré ou invalide : vérifiez vos saisies et renvoyez-le."
            return form_page(access, token, values, status=403, banner=banner, **fresh)
        if not forms.FORM_TOKEN.match(form_token):
            banner = "Formulaire incomplet : vérifiez vos saisies et renvoyez-le."
            return form_page(access, token, values, status=400, banner=banner, **fresh)
        try:
            order = OrderCreate.model_validate(forms.form_data(values))
            errors = order.check_urgency()
        except ValidationError as error:  # every problem at once, the cross-field ones too
            errors = forms.cross_field_errors(values) | field_errors(error)
        if errors:
            errors = forms.row_errors(errors, values)
            return form_page(access, token, values, status=422, errors=errors, **kept)
        try:
            with writing, unit_of_work(engine, keep_loaded=True) as session:
                created, _ = service.create_order(
                    session=session,
                    hospital_id=access.hospital_id,
                    order=order,
                    actor=f"hospital-link:{access.link_id}",
                    channel="web",
                    link_id=access.link_id,
                    idempotency_key=f"web:{form_token}",
                )
        except InvalidOrder as error:
            errors = forms.row_errors(error.fields, values)
            return form_page(access, token, values, status=422, errors=errors, **kept)
        except IdempotencyKeyReused:
            banner = "Ce formulaire a déjà été envoyé avec d'autres valeurs : renvoyez-le."
            return form_page(access, token, values, status=409, banner=banner, **fresh)
        target = f"/h/{token}/commandes/{created.reference}?nouvelle=1"
        return RedirectResponse(target, status_code=303)

    @app.get("/h/{token}/commandes", include_in_schema=False)
    def order_list(token: str) -> Response:
        access = access_for(token)
        with unit_of_work(engine, read_only=True) as session:
            found = service.list_orders(session=session, hospital_id=access.hospital_id)
            orders = service.describe(session=session, orders=found)
        return page("orders.html", hospital=access.hospital_name, base=f"/h/{token}", orders=orders)

    @app.get("/h/{token}/commandes/{reference}", include_in_schema=False)
    def order_detail(token: str, reference: str, nouvelle: str = "") -> Response:
        return detail_page(access_for(token), token, reference, created=nouvelle == "1")

    @app.get("/h/{token}/commandes/{reference}/pdf", include_in_schema=False)
    def order_pdf(token: str, reference: str) -> Response:
        from orders.pdf import order_pdf

        access = access_for(token)
        with unit_of_work(engine, read_only=True) as session:
            found = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            (order,) = service.describe(session=session, orders=[found])
        name = f"commande-{order.reference}.pdf"
        return Response(
            order_pdf(order),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    def detail_page(
        access: Access, token: str, reference: str, status: int = 200, **extra: Any
    ) -> HTMLResponse:
        with unit_of_work(engine, read_only=True) as session:
            found = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            (order,) = service.describe(session=session, orders=[found], with_events=True)
            shipments = shipping.shipments_of(session=session, reference=found.reference)
        return page(
            "order.html",
            status,
            shipments=shipments,
            hospital=access.hospital_name,
            base=f"/h/{token}",
            order=order,
            csrf_token=csrf_token(secret, access.token_hash),
            **extra,
        )

    @app.post("/h/{token}/commandes/{reference}/annulation", include_in_schema=False)
    async def cancel_order_form(token: str, reference: str, request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(cancel_from_page, token, reference, values)

    def cancel_from_page(token: str, reference: str, values: dict[str, str]) -> Response:
        access = access_for(token)
        problem = ""
        reason = " ".join(values.get("reason", "").split())
        if not csrf_valid(secret, access.token_hash, values.get("csrf_token")):
            problem = "Formulaire expiré : rechargez la page et recommencez."
        elif not reason or len(reason) > 300:
            problem = "Indiquez le motif de l'annulation (300 caractères au plus)."
        else:
            try:
                with writing, unit_of_work(engine) as session:
                    amend.cancel_by_hospital(
                        session=session,
                        reference=reference,
                        hospital_id=access.hospital_id,
                        reason=reason,
                        actor=f"hospital-link:{access.link_id}",
                        link_id=access.link_id,
                    )
            except IllegalTransition as error:
                problem = str(error)
        if problem:
            return detail_page(access, token, reference, status=422, cancel_error=problem)
        return RedirectResponse(f"/h/{token}/commandes/{reference}", status_code=303)

    # --- the hospital amends its order while it is received ----------------------------------

    def amend_page(
        access: Access, token: str, reference: str, values: dict[str, str] | None, **extra: Any
    ) -> Response:
        with unit_of_work(engine, read_only=True) as session:
            found = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            (order,) = service.describe(session=session, orders=[found])
            codes = service.catalogue(session=session)
            places = sites.sites_of(session=session, hospital_id=access.hospital_id)
        if order.status is not OrderStatus.RECEIVED:
            return RedirectResponse(f"/h/{token}/commandes/{order.reference}", status_code=303)
        errors = extra.pop("errors", {})
        rows = amend_form.rows_for(order)
        values = amend_form.initial(order) if values is None else values
        shown = max(forms.offered_rows(codes, values), len(order.lines))
        return page(
            "amend.html",
            extra.pop("status", 200),
            hospital=access.hospital_name,
            base=f"/h/{token}",
            order=order,
            csrf_token=csrf_token(secret, access.token_hash),
            items=[(code, forms.ITEM_FR.get(code, code)) for code in codes],
            sites=[(str(site.id), sites.label(site)) for site in places],
            rows=[(n, *forms.row_names(n)) for n in range(1, shown + 1)],
            today=today().isoformat(),
            values=values,
            errors=errors,
            first_error=next((name for name in amend_form.fields(rows) if name in errors), None),
            **extra,
        )

    @app.get("/h/{token}/commandes/{reference}/modification", include_in_schema=False)
    def amend_get(token: str, reference: str) -> Response:
        return amend_page(access_for(token), token, reference, None)

    @app.post("/h/{token}/commandes/{reference}/modification", include_in_schema=False)
    async def amend_post(token: str, reference: str, request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(amend_from_page, token, reference, values)

    def amend_from_page(token: str, reference: str, values: dict[str, str]) -> Response:
        access = access_for(token)
        if not csrf_valid(secret, access.token_hash, values.get("csrf_token")):
            banner = "Formulaire expiré ou invalide : vérifiez vos saisies et renvoyez-le."
            return amend_page(access, token, reference, values, status=403, banner=banner)
        with unit_of_work(engine, read_only=True) as session:
            found = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            (order,) = service.describe(session=session, orders=[found])
        if order.status is not OrderStatus.RECEIVED:
            late = amend_form.too_late(order)
            return detail_page(access, token, reference, status=409, amend_error=late)
        try:
            change = amend_form.change(values, order)
            with writing, unit_of_work(engine) as session:
                amend.amend_order(
                    session=session,
                    reference=order.reference,
                    hospital_id=access.hospital_id,
                    change=change,
                    actor=f"hospital-link:{access.link_id}",
                    link_id=access.link_id,
                )
        except InvalidOrder as error:
            errors = amend_form.placed_errors(error.fields, values, order)
            return amend_page(access, token, reference, values, status=422, errors=errors)
        except IllegalTransition as error:  # accepted meanwhile: the order page says so
            return detail_page(access, token, reference, status=409, amend_error=str(error))
        return RedirectResponse(f"/h/{token}/commandes/{order.reference}", status_code=303)

    # --- the hospital's receipt of a shipment (the core's shipping service) ---------------------

    def own_shipment(session: Session, access: Access, reference: str, number: str) -> str:
        """The shipment's number if it belongs to this hospital's order, else not found."""
        order = service.get_order(
            session=session, reference=reference, hospital_id=access.hospital_id
        )
        shipment = shipping.get_shipment(session=session, number=number)
        if shipment.reference != order.reference:
            raise UnknownShipment(f"expédition {number[:40]!r} introuvable")
        return shipment.number

    @app.get("/h/{token}/commandes/{reference}/bl/{number}", include_in_schema=False)
    def delivery_note(token: str, reference: str, number: str) -> Response:
        import tempfile

        access = access_for(token)
        with unit_of_work(engine, read_only=True) as session, tempfile.TemporaryDirectory() as tmp:
            number = own_shipment(session, access, reference, number)
            path = shipping.write_delivery_note(
                session=session, number=number, path=Path(tmp) / "bl.pdf"
            )
            body = path.read_bytes()
        headers = {"Content-Disposition": f'inline; filename="bl-{number}.pdf"'}
        return Response(body, media_type="application/pdf", headers=headers)

    @app.post("/h/{token}/commandes/{reference}/reception/{number}", include_in_schema=False)
    async def receipt_form(token: str, reference: str, number: str, request: Request) -> Response:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return await run_in_threadpool(receipt_from_page, token, reference, number, values)

    def receipt_from_page(
        token: str, reference: str, number: str, values: dict[str, str]
    ) -> Response:
        access = access_for(token)
        problem = ""
        if not csrf_valid(secret, access.token_hash, values.get("csrf_token")):
            problem = "Formulaire expiré : rechargez la page et recommencez."
        else:
            try:
                receipt = shipping.Receipt(
                    received=int(values.get("received", "").strip() or "-1"),
                    refused=int(values.get("refused", "").strip() or "0"),
                    signed_by=" ".join(values.get("signed_by", "").split()),
                    refusal_reason=" ".join(values.get("reason", "").split()),
                )
                with writing, unit_of_work(engine) as session:
                    shipping.confirm_receipt(
                        session=session,
                        number=own_shipment(session, access, reference, number),
                        receipt=receipt,
                        actor=f"hospital-link:{access.link_id}",
                    )
            except ValueError:
                problem = "Indiquez les quantités reçue et refusée en nombres entiers."
            except FabcoordError as error:
                if error.http_status == 404:
                    raise
                problem = str(error)
        if problem:
            return detail_page(
                access, token, reference, status=422, receipt_error=problem, receipt_for=number
            )
        return RedirectResponse(f"/h/{token}/commandes/{reference}", status_code=303)

    # --- JSON API ----------------------------------------------------------------------------

    bearer = HTTPBearer(auto_error=False, description="Le jeton du lien secret de l'hôpital.")

    async def api_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        return credentials.credentials if credentials else ""

    def api_auth(session: Session, token: str) -> Access:
        """Authenticate inside the handler's own transaction (one thread hop, one transaction)."""
        try:
            return authenticate(session=session, token=token)
        except LinkNotFound:
            raise Unauthenticated() from None

    Token = Annotated[str, Depends(api_token)]

    @app.post(
        "/api/v1/orders",
        status_code=201,
        response_model=OrderPublic,
        responses=forms.REPLAY | forms.ERRORS,
    )
    def api_create(body: OrderCreate, token: Token, key: IdempotencyKey = None) -> Response:
        """Passer une commande ; avec Idempotency-Key, un rejeu renvoie la commande d'origine."""
        with writing, unit_of_work(engine, keep_loaded=True) as session:
            access = api_auth(session, token)  # its link and hospital stay loaded for the order
            actor = f"hospital-link:{access.link_id}"
            order, created = service.create_order(
                session=session,
                hospital_id=access.hospital_id,
                order=body,
                actor=actor,
                channel="api",
                link_id=access.link_id,
                idempotency_key=f"api:{key}" if key else None,
            )
            public = service.describe_created(
                session=session,
                order=order,
                created=created,
                hospital=access.hospital_name,
                actor=actor,
                link_id=access.link_id,
                ordered=body.order_lines(),
            )
        return json(public, 201 if created else 200)

    @app.patch("/api/v1/orders/{reference}", response_model=OrderPublic, responses=forms.ERRORS)
    def api_amend(reference: str, body: OrderAmend, token: Token) -> Response:
        """Modifier les lignes, la date ou le site d'une commande encore « reçue »."""
        with writing, unit_of_work(engine) as session:
            access = api_auth(session, token)
            order = amend.amend_order(
                session=session,
                reference=reference,
                hospital_id=access.hospital_id,
                change=body,
                actor=f"hospital-link:{access.link_id}",
                link_id=access.link_id,
            )
            (public,) = service.describe(session=session, orders=[order], with_events=True)
        return json(public)

    @app.post(
        "/api/v1/orders/{reference}/cancel", response_model=OrderPublic, responses=forms.ERRORS
    )
    def api_cancel(reference: str, body: OrderCancel, token: Token) -> Response:
        """Annuler une commande encore « reçue » (avant son acceptation), avec le motif."""
        with writing, unit_of_work(engine) as session:
            access = api_auth(session, token)
            order = amend.cancel_by_hospital(
                session=session,
                reference=reference,
                hospital_id=access.hospital_id,
                reason=body.reason,
                actor=f"hospital-link:{access.link_id}",
                link_id=access.link_id,
            )
            (public,) = service.describe(session=session, orders=[order], with_events=True)
        return json(public)

    @app.get(
        "/api/v1/orders/{reference}/shipments",
        response_model=list[ShipmentPublic],
        responses=forms.ERRORS,
    )
    def api_shipments(reference: str, token: Token) -> Response:
        """Les expéditions d'une commande, avec leur lot et leur réception."""
        with unit_of_work(engine, read_only=True) as session:
            access = api_auth(session, token)
            order = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            found = shipping.shipments_of(session=session, reference=order.reference)
        body = [ShipmentPublic.model_validate(s, from_attributes=True) for s in found]
        return Response(
            "[" + ",".join(b.model_dump_json() for b in body) + "]",
            media_type="application/json",
        )

    @app.post(
        "/api/v1/orders/{reference}/shipments/{number}/receipt",
        response_model=ShipmentPublic,
        responses=forms.ERRORS,
    )
    def api_receipt(reference: str, number: str, body: ReceiptIn, token: Token) -> Response:
        """Signer la réception d'une expédition : quantités reçue et refusée (avec motif)."""
        with writing, unit_of_work(engine) as session:
            access = api_auth(session, token)
            shipment = shipping.confirm_receipt(
                session=session,
                number=own_shipment(session, access, reference, number),
                receipt=shipping.Receipt(
                    received=body.received,
                    refused=body.refused,
                    signed_by=body.signed_by,
                    refusal_reason=body.reason,
                ),
                actor=f"hospital-link:{access.link_id}",
            )
            batch_number = shipping.batch_number(session=session, shipment=shipment)
            public = ShipmentPublic.model_validate(
                shipping.view(shipment, batch_number), from_attributes=True
            )
        return json(public)

    @app.get("/api/v1/models", response_model=Catalogue, responses=forms.ERRORS)
    def api_models(token: Token) -> Response:
        """Les modèles que l'on peut commander (``item`` d'une ligne de commande)."""
        with unit_of_work(engine, read_only=True) as session:
            api_auth(session, token)
            found = service.catalogue(session=session)
        models = [CatalogueModel(code=c, label=forms.ITEM_FR.get(c, n)) for c, n in found.items()]
        return json(Catalogue(models=models))

    @app.get("/api/v1/sites", response_model=SiteList, responses=forms.ERRORS)
    def api_sites(token: Token) -> Response:
        """Les sites de livraison de l'hôpital (``site`` d'une commande)."""
        with unit_of_work(engine, read_only=True) as session:
            access = api_auth(session, token)
            places = sites.sites_of(session=session, hospital_id=access.hospital_id)
            return json(SiteList(sites=[sites.public(site) for site in places]))

    def openapi() -> dict[str, Any]:
        """The OpenAPI document, with the catalogue's models as the enum of ``item``."""
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            with unit_of_work(engine, read_only=True) as session:
                codes = list(service.catalogue(session=session))
            for name in ("OrderCreate", "OrderLineIn"):
                item = schema["components"]["schemas"][name]["properties"]["item"]
                if codes:
                    item["enum"] = codes
                item["examples"] = codes[:1] or ["visor"]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/v1/orders", response_model=OrderList, responses=forms.ERRORS)
    def api_list(token: Token, status: OrderStatus | None = None) -> Response:
        """Les commandes de l'hôpital, les plus récentes d'abord (200 au plus)."""
        with unit_of_work(engine, read_only=True) as session:
            access = api_auth(session, token)
            found = service.list_orders(
                session=session, hospital_id=access.hospital_id, status=status
            )
            return json(OrderList(orders=service.describe(session=session, orders=found)))

    @app.get("/api/v1/orders/{reference}", response_model=OrderPublic, responses=forms.ERRORS)
    def api_read(reference: str, token: Token) -> Response:
        """Une commande de l'hôpital, avec son avancement et son historique."""
        with unit_of_work(engine, read_only=True) as session:
            access = api_auth(session, token)
            found = service.get_order(
                session=session, reference=reference, hospital_id=access.hospital_id
            )
            (public,) = service.describe(session=session, orders=[found], with_events=True)
            return json(public)

    app.add_middleware(
        Guard,
        max_body=settings.web_max_body_bytes,
        per_link=limiters.per_link,
        per_address=limiters.per_address,
    )
    return app


def json(model: BaseModel, status: int = 200) -> Response:
    """Serialise a response model once (FastAPI would validate it again)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Run the application with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        server_header=False,
        access_log=False,  # request paths hold the hospitals' secret links: never log them
        proxy_headers=False,  # the client address is the TCP peer, not X-Forwarded-For
        timeout_keep_alive=KEEP_ALIVE_S,
    )


def server(
    app: Any, settings: Settings, *, host: str, port: int, grace_s: float
) -> "uvicorn.Server":
    """A uvicorn server for ``app`` (not started), configured as :func:`serve`'s, which lets the
    requests under way finish for at most ``grace_s`` when told to stop (``fabcoord run``)."""
    import uvicorn

    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the service's own logging
            log_level=settings.log_level.lower(),
            server_header=False,
            access_log=False,  # request paths hold the hospitals' secret links: never log them
            proxy_headers=False,  # the client address is the TCP peer, not X-Forwarded-For
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=max(1, int(grace_s)),
        )
    )
