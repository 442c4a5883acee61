"""The reference producer keeps the contract its OpenAPI schema states: a bounded, seeded
schemathesis run (every check it has) against solutions.producer, in this process, on the
tests' Redis database.

Bounded and seeded: at most MAX_EXAMPLES generated requests per endpoint and phase
(about 1,600 requests in all, some 20 s), `derandomize=True` (the same requests on every run), no
example database. Two things are adjusted, each for a reason the schema cannot state:

- the `email` format: JSON Schema's allows addresses that the email-validator package (which
  pydantic's EmailStr uses) refuses, at special-use domains such as `.test` or `.local`;
  generated addresses are those EmailStr accepts (the field's description says so), and
  that schemathesis' own format check accepts too;
- POST /newsletters: JSON Schema cannot say that addresses x delay must fit in a job (a rule
  across two fields). A schema-valid body whose work would not fit gets its delay shortened
  until it fits; the 422 for such a body is tested in test_api_guards.py.

Checks left out: none. (use_after_free, ensure_resource_availability and
object_level_authorization need links between operations, which this schema does not
declare; they run and find nothing to compare.)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jsonschema_rs
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError
from schemathesis.checks import CHECKS, load_all_checks

from lab.support.config import VARIABLES, environment, get_settings
from solutions.producer import app
from solutions.webhooks import sign_event

MAX_EXAMPLES = 200
LEFT_OUT: dict[str, str] = {}  # check name -> why it is left out
load_all_checks()  # registers the OpenAPI checks beside not_a_server_error
CHECKS_RUN = [check for check in CHECKS.get_all() if check.__name__ not in LEFT_OUT]
_EMAIL = TypeAdapter(EmailStr)
_EMAIL_FORMAT = jsonschema_rs.validator_for({"format": "email"}, validate_formats=True)


def accepted_email(text: str) -> bool:
    """Whether EmailStr accepts `text`, and so does the `email` format check schemathesis
    applies to a body a hook changed (jsonschema_rs: it refuses some punycode domains,
    such as `x.xN--p1aCf`, that EmailStr accepts)."""
    try:
        _EMAIL.validate_python(text)
    except ValidationError:
        return False
    return _EMAIL_FORMAT.is_valid(text)


schemathesis.openapi.format("email", st.emails().filter(accepted_email))
# Loaded when this module is imported, before any fixture runs: with the default settings,
# those the tests run with, whatever the shell exported (the app keeps the schema it built).
with environment(**dict.fromkeys(VARIABLES)):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.hook
def map_body(context, body):
    """A schema-valid newsletter whose work would not fit in a job gets a shorter delay."""
    if context.operation is None or context.operation.path != "/newsletters":
        return body
    if not isinstance(body, dict):
        return body
    addresses, delay = body.get("addresses"), body.get("delay", 0.1)
    if not isinstance(addresses, list) or not addresses or type(delay) not in (int, float):
        return body
    most = get_settings().max_work_seconds
    if 0 <= delay <= most < len(addresses) * delay:
        return {**body, "delay": most / len(addresses) / 2}
    return body


@schemathesis.hook
def before_call(context, case, **kwargs):
    """Before each request of every phase: an email's send_at in the past moves a day ahead;
    a payment event gets the signature of its bytes, as the provider would send it."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return  # a request that breaks the schema somewhere: refused either way
    if case.operation.path == "/emails":
        # schemathesis validates a body a hook changed again, formats included, and takes
        # one that fails for a negative case: hence emails that pass its format check too.
        move_send_at_ahead(case.body)
        return
    if case.operation.path == "/webhooks/payments" and case.body is not None:
        # sign_event() encodes with json.dumps(), as the transport (requests' json=) does
        signed = sign_event(case.body)[1]["Signature"]
        case.headers = {**(case.headers or {}), "Signature": signed}


def move_send_at_ahead(body: object) -> None:
    """Move a send_at in the past of `body` a day ahead (keeping its zone), in place."""
    if not isinstance(body, dict) or not isinstance(body.get("send_at"), str):
        return
    try:
        when = datetime.fromisoformat(body["send_at"])
    except ValueError:
        return
    if when.tzinfo is None or when > datetime.now(timezone.utc):
        return
    ahead = datetime.now(timezone.utc).astimezone(when.tzinfo) + timedelta(days=1)
    body["send_at"] = ahead.isoformat()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_reference_producer_keeps_its_documented_contract(case, reference_app):
    case.call_and_validate(checks=CHECKS_RUN)


def test_every_check_runs():
    names = {check.__name__ for check in CHECKS_RUN}
    assert len(names) >= 14
    assert {"not_a_server_error", "status_code_conformance", "response_schema_conformance"} <= names
    assert {"negative_data_rejection", "positive_data_acceptance", "unsupported_method"} <= names
