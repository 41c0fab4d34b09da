"""The one exception family of the tariff package.

Every class carries a stable, machine-readable ``code``; messages are one line
and say what to fix. Callers that only care about "the tariff layer refused
this" catch :class:`TariffError`.
"""
from __future__ import annotations


class TariffError(Exception):
    """Base of every error raised by :mod:`vouchers.tariffs`."""

    code = "tariff_error"


# --- the data files -----------------------------------------------------------------


class TariffDataError(TariffError):
    """A tariff or late-fee data file is unreadable or breaks a rule."""

    code = "tariff_data_invalid"


class MalformedDataFile(TariffDataError):
    """Not valid UTF-8 TOML, or not a file of a kind we know."""

    code = "tariff_data_malformed"


class UnknownField(TariffDataError):
    """A key the format does not define (usually a typo)."""

    code = "tariff_data_unknown_field"


class MissingField(TariffDataError):
    code = "tariff_data_missing_field"


class InvalidField(TariffDataError):
    """A field of the wrong type or out of range (e.g. a negative price)."""

    code = "tariff_data_invalid_field"


class InvalidTiers(TariffDataError):
    """Tier bounds missing, not strictly increasing, or not scalable per month."""

    code = "tariff_data_invalid_tiers"


class OverlappingVersions(TariffDataError):
    """Two versions of one tariff (or late-fee schedule) are in force on one day."""

    code = "tariff_versions_overlap"


class DuplicateDefinition(TariffDataError):
    """A tariff id or the late-fee rules defined in two files."""

    code = "tariff_data_duplicate"


# --- look-ups -----------------------------------------------------------------------


class UnknownTariff(TariffError, LookupError):
    code = "unknown_tariff"


class NoVersionInForce(TariffError, LookupError):
    """No version of the tariff (or late-fee schedule) covers the given date."""

    code = "no_tariff_version"


class NoLateFeeSchedule(TariffError, LookupError):
    code = "no_late_fee_schedule"


class UnknownCustomerClass(TariffError, LookupError):
    code = "unknown_customer_class"


# --- arguments ----------------------------------------------------------------------


class InvalidQuantity(TariffError, ValueError):
    """A kWh figure, month count or day count that is negative, too precise or not a number."""

    code = "invalid_quantity"


class InvalidAmount(TariffError, ValueError):
    """A money amount that is negative, has more than two decimals or is not a number."""

    code = "invalid_amount"


class TimeOfUseSplitError(TariffError, ValueError):
    """Peak and valley kWh are incomplete or do not add up to the consumption."""

    code = "tou_split_mismatch"


class OptionNotOffered(TariffError, ValueError):
    """Time-of-use or the low-income allowance asked of a version that has none."""

    code = "tariff_option_not_offered"
