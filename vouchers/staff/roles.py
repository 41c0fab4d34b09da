"""The staff roles (a person may hold several) and what each may do."""
from __future__ import annotations

ISSUER_OPERATOR = "issuer_operator"  # maker: create batches, print, export, ship, consign
APPROVER = "approver"  # checker: approve what a maker did, with a fresh second factor
FINANCE = "finance"
CUSTOMER_SERVICE = "customer_service"
FRAUD_ANALYST = "fraud_analyst"
ADMIN = "admin"  # staff, API clients, keys
DISTRIBUTOR = "distributor"  # distributor staff: scoped to one distributor

ROLES: tuple[str, ...] = (ISSUER_OPERATOR, APPROVER, FINANCE, CUSTOMER_SERVICE, FRAUD_ANALYST, ADMIN, DISTRIBUTOR)

# Roles that see the utility-wide dashboard (a distributor sees only its own portal).
INTERNAL = frozenset(ROLES) - {DISTRIBUTOR}


def parse_roles(text: str) -> frozenset[str]:
    """The roles stored as ``a,b,c``."""
    return frozenset(r for r in text.split(",") if r)


def format_roles(roles: frozenset[str] | set[str] | tuple[str, ...]) -> str:
    return ",".join(r for r in ROLES if r in roles)
