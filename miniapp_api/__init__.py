"""The mini-program's JSON API under /api/v1 (flask-openapi3; the document is at /api/v1/openapi.json).

How to add an endpoint
----------------------
1. Make a blueprint in your own module: ``bp = api_blueprint("miniapp_points", __name__, "points")``
   (``miniapp_api.blueprint``; every operation is under /api/v1 and requires a bearer token in the document).
   Add it to ``wsgi.blueprints()``, the one list of every blueprint (one line).
2. Describe input with pydantic models; flask-openapi3 validates them and answers 422 with per-field details:
   ``def view(path: MyPath, query: MyQuery, body: MyBody)``. Bound ids with ``schemas.DbId`` and datetimes with
   ``pydantic.AwareDatetime`` so fuzzed input is a 422, never a 500.
3. Stack the decorators under the route, outermost first::

       @bp.post("/rewards/<reward_id>/redeem", responses=responses(RedemptionOut, status=201, errors=WRITE_ERRORS))
       @require_roles("resident")          # or @login_required; 401 / 403 in the one JSON error shape
       @idempotent                         # POSTs that create or spend: honours the Idempotency-Key header
       def redeem(path: RewardPath) -> Any:
           principal = current_principal()  # Principal(resident_id, roles, staff_id, partner_id)
           session = db_session()
           result = rewards.redeem(session, ..., resident_id=principal.resident_id)  # service: flush, no commit
           session.commit()                 # or jobs.outbox.commit_and_enqueue(session)
           return Out(...).model_dump(mode="json"), 201

4. Refuse with ``services.errors`` (NotFound, Forbidden, Conflict …) from services or ``infra.http.ApiError``
   from the handler: both become ``{"code", "message", "details"}`` with the right status. Check ownership on every
   object (another resident's object → 404), so an id reveals nothing; new objects are addressed by their
   integer id (venues, bookings, events, submissions).
5. Lists: ``def view(query: PageQuery)`` (or a subclass with filters) and ``return paginate(session, stmt, query,
   serialize)`` → ``{items, page, page_size, total}``; declare ``responses(Page[Item])``.
6. Tests: ``tests/miniapp_api/conftest.py`` has ``login_as(resident_or_None, **fields)`` returning auth headers.

Roles: resident (everyone logged in), volunteer (Resident.is_volunteer), staff and grid_leader (a Staff row with
the same unionid or mini-program openid), partner (a lookup registered with
``services.organisation.auth.register_partner_lookup(fn)``; ``services.points.ledger.partner_id_for_resident``
is registered by default).
"""
