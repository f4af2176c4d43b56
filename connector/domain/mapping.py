"""From a Lucca employee to the Entra user it should be: one row per attribute.

Adding an attribute is adding a row to `ATTRIBUTES`: its Graph property, how Lucca fills it,
what it reads from Lucca (and so the OAuth scopes the sync asks for), whether Graph takes it in
a PATCH and whether an empty Lucca value may clear it. The directory reads every row's
property; `SYNC_ATTRIBUTES` chooses the rows the connector owns, the others are never written.
`manager` is a row too, but its value is the manager's Lucca id, which the sync turns into a
`manager/$ref` between linked accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.lucca.models import (
        LuccaDepartment,
        LuccaEmployee,
        LuccaEstablishment,
        LuccaLegalEntity,
    )

ANCHOR_PREFIX = "lucca-"


def anchor(employee_id: str) -> str:
    """The connector's mark in `employeeId`: `lucca-<id>` (Graph allows 16 characters)."""
    return f"{ANCHOR_PREFIX}{employee_id}"


class Need(StrEnum):
    """What a row reads from Lucca beyond the employee and its embedded job (the runtime
    turns each into the OAuth scope that reads it)."""

    DEPARTMENT = "department"
    LEGAL_ENTITY = "legal-entity"
    ESTABLISHMENT = "establishment"


@dataclass(frozen=True, kw_only=True)
class LuccaView:
    """The employee as Lucca has it now, with what the owned rows need."""

    employee: LuccaEmployee
    department: LuccaDepartment | None = None
    legal_entity: LuccaLegalEntity | None = None
    establishment: LuccaEstablishment | None = None


@dataclass(frozen=True, kw_only=True)
class Attribute:
    """One row of the mapping: an Entra property, how Lucca fills it, how Graph takes it."""

    name: str  # the Graph user property, as SYNC_ATTRIBUTES names it
    value: Callable[[LuccaView], str | None]
    needs: frozenset[Need] = frozenset()
    description: str
    writable: bool = True  # the sync PATCHes it when it differs (the anchor: only if empty)
    never_cleared: bool = False  # Graph will not clear it: an empty Lucca value leaves it
    # A link to another user (`manager/$ref`, read with `$expand`), not a property to select.
    reference: bool = False
    # Graph's documented maximum length (https://learn.microsoft.com/graph/api/resources/user
    # #properties): a longer Lucca value is cut to it, ending in CUT_MARKER. None: not cut
    # (an address or an id cut short would be another one: Graph refuses it, the log says so).
    max_length: int | None = None


def _job_title(view: LuccaView) -> str | None:
    position = view.employee.job_position
    return position.job_title if position else None


def _display_name(view: LuccaView) -> str | None:
    parts = [view.employee.given_name, view.employee.family_name]
    return " ".join(p.strip() for p in parts if p and p.strip()) or None


def _manager(view: LuccaView) -> str | None:
    position = view.employee.job_position
    return position.manager_id if position else None


def _employee_type(view: LuccaView) -> str | None:
    employment = view.employee.employment
    if employment is None:
        return None
    return "permanent" if employment.end is None else "fixed-term"


def _usage_location(view: LuccaView) -> str | None:
    entity = view.legal_entity
    return COUNTRY_ALPHA2.get((entity.country_code or "").upper()) if entity else None


MANAGER = "manager"

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute(
        name="surname",
        value=lambda v: v.employee.family_name,
        description="Lucca's last name",
        never_cleared=True,
        max_length=64,
    ),
    Attribute(
        name="givenName",
        value=lambda v: v.employee.given_name,
        description="Lucca's first name",
        never_cleared=True,
        max_length=64,
    ),
    Attribute(
        name="displayName",
        value=_display_name,
        description='"First Last"',
        never_cleared=True,
        max_length=256,
    ),
    Attribute(
        name="mail",
        value=lambda v: v.employee.email,
        description="Lucca's professional email",
        never_cleared=True,
    ),
    Attribute(
        name="department",
        value=lambda v: v.department.name if v.department else None,
        needs=frozenset({Need.DEPARTMENT}),
        description="the job position's department (Lucca's 'service')",
        max_length=64,
    ),
    Attribute(
        name="jobTitle",
        value=_job_title,
        description="the job position's title",
        max_length=128,
    ),
    Attribute(
        name=MANAGER,
        value=_manager,
        description="the job position's manager, once both accounts are linked",
        writable=False,
        reference=True,
    ),
    Attribute(
        name="employeeId",
        value=lambda v: anchor(v.employee.id),
        description="the anchor lucca-<id>, written only into an empty value",
        never_cleared=True,
    ),
    Attribute(
        name="companyName",
        value=lambda v: v.legal_entity.name if v.legal_entity else None,
        needs=frozenset({Need.LEGAL_ENTITY}),
        description="the employment's legal entity",
        max_length=64,
    ),
    Attribute(
        name="officeLocation",
        value=lambda v: v.establishment.name if v.establishment else None,
        needs=frozenset({Need.ESTABLISHMENT}),
        description="the job position's business establishment",
        max_length=128,
    ),
    Attribute(
        name="usageLocation",
        value=_usage_location,
        needs=frozenset({Need.LEGAL_ENTITY}),
        description="the legal entity's country, ISO 3166 alpha-2 (for licences)",
    ),
    Attribute(
        name="employeeType",
        value=_employee_type,
        description="permanent, or fixed-term when the employment has an end date",
        max_length=64,
    ),
)

BY_NAME = {attribute.name: attribute for attribute in ATTRIBUTES}
DEFAULT_ATTRIBUTES = (
    "surname",
    "givenName",
    "displayName",
    "mail",
    "department",
    "jobTitle",
    "manager",
    "employeeId",
)


def owned(names: tuple[str, ...]) -> tuple[Attribute, ...]:
    """The rows `SYNC_ATTRIBUTES` names, in the table's order."""
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]}: choose among {', '.join(BY_NAME)}")
    return tuple(a for a in ATTRIBUTES if a.name in names)


def needs_of(attributes: tuple[Attribute, ...]) -> frozenset[Need]:
    """Everything the owned rows read from Lucca."""
    return frozenset(need for attribute in attributes for need in attribute.needs)


def graph_properties(attributes: Iterable[Attribute] | None = None) -> dict[str, bool]:
    """The Graph user properties the rows fill (all rows by default), each with whether the
    sync writes it: what the directory selects on every read and lets through a PATCH."""
    rows = ATTRIBUTES if attributes is None else attributes
    return {a.name: a.writable for a in rows if not a.reference}


def never_cleared(attributes: Iterable[Attribute]) -> frozenset[str]:
    """The rows an empty Lucca value leaves as they are."""
    return frozenset(a.name for a in attributes if a.never_cleared)


CUT_MARKER = "…"


def desired(view: LuccaView, attributes: tuple[Attribute, ...]) -> dict[str, str | None]:
    """The value each owned row wants, trimmed, cut to Graph's length; empty strings are None."""
    values: dict[str, str | None] = {}
    for attribute in attributes:
        value = attribute.value(view)
        value = value.strip() or None if isinstance(value, str) else None
        if value is not None and attribute.max_length is not None:
            value = cut(value, attribute.max_length)
        values[attribute.name] = value
    return values


def cut_rows(view: LuccaView, attributes: tuple[Attribute, ...]) -> list[str]:
    """The rows whose Lucca value is longer than Graph takes (`desired` cuts them)."""
    return [
        a.name
        for a in attributes
        if a.max_length is not None
        and isinstance(value := a.value(view), str)
        and _length(value.strip()) > a.max_length
    ]


def cut(value: str, longest: int) -> str:
    """`value` if it fits in `longest` characters (UTF-16 code units, as Graph counts), else
    its beginning ending in CUT_MARKER."""
    if _length(value) <= longest:
        return value
    kept = value[: longest - 1]
    while _length(kept) > longest - 1:  # characters beyond the BMP count twice
        kept = kept[:-1]
    return kept.rstrip() + CUT_MARKER


def _length(value: str) -> int:
    """The length in UTF-16 code units."""
    return len(value.encode("utf-16-le")) // 2


# ISO 3166-1 alpha-3 (as Lucca gives legal entities' countries) to alpha-2 (as Graph's
# usageLocation wants them), from the ISO 3166 list.
_COUNTRIES = (
    "ABWAW AFGAF AGOAO AIAAI ALAAX ALBAL ANDAD AREAE ARGAR ARMAM ASMAS ATAAQ ATFTF ATGAG AUSAU "
    "AUTAT AZEAZ BDIBI BELBE BENBJ BESBQ BFABF BGDBD BGRBG BHRBH BHSBS BIHBA BLMBL BLRBY BLZBZ "
    "BMUBM BOLBO BRABR BRBBB BRNBN BTNBT BVTBV BWABW CAFCF CANCA CCKCC CHECH CHLCL CHNCN CIVCI "
    "CMRCM CODCD COGCG COKCK COLCO COMKM CPVCV CRICR CUBCU CUWCW CXRCX CYMKY CYPCY CZECZ DEUDE "
    "DJIDJ DMADM DNKDK DOMDO DZADZ ECUEC EGYEG ERIER ESHEH ESPES ESTEE ETHET FINFI FJIFJ FLKFK "
    "FRAFR FROFO FSMFM GABGA GBRGB GEOGE GGYGG GHAGH GIBGI GINGN GLPGP GMBGM GNBGW GNQGQ GRCGR "
    "GRDGD GRLGL GTMGT GUFGF GUMGU GUYGY HKGHK HMDHM HNDHN HRVHR HTIHT HUNHU IDNID IMNIM INDIN "
    "IOTIO IRLIE IRNIR IRQIQ ISLIS ISRIL ITAIT JAMJM JEYJE JORJO JPNJP KAZKZ KENKE KGZKG KHMKH "
    "KIRKI KNAKN KORKR KWTKW LAOLA LBNLB LBRLR LBYLY LCALC LIELI LKALK LSOLS LTULT LUXLU LVALV "
    "MACMO MAFMF MARMA MCOMC MDAMD MDGMG MDVMV MEXMX MHLMH MKDMK MLIML MLTMT MMRMM MNEME MNGMN "
    "MNPMP MOZMZ MRTMR MSRMS MTQMQ MUSMU MWIMW MYSMY MYTYT NAMNA NCLNC NERNE NFKNF NGANG NICNI "
    "NIUNU NLDNL NORNO NPLNP NRUNR NZLNZ OMNOM PAKPK PANPA PCNPN PERPE PHLPH PLWPW PNGPG POLPL "
    "PRIPR PRKKP PRTPT PRYPY PSEPS PYFPF QATQA REURE ROURO RUSRU RWARW SAUSA SDNSD SENSN SGPSG "
    "SGSGS SHNSH SJMSJ SLBSB SLESL SLVSV SMRSM SOMSO SPMPM SRBRS SSDSS STPST SURSR SVKSK SVNSI "
    "SWESE SWZSZ SXMSX SYCSC SYRSY TCATC TCDTD TGOTG THATH TJKTJ TKLTK TKMTM TLSTL TONTO TTOTT "
    "TUNTN TURTR TUVTV TWNTW TZATZ UGAUG UKRUA UMIUM URYUY USAUS UZBUZ VATVA VCTVC VENVE VGBVG "
    "VIRVI VNMVN VUTVU WLFWF WSMWS YEMYE ZAFZA ZMBZM ZWEZW "
)
COUNTRY_ALPHA2 = {pair[:3]: pair[3:] for pair in _COUNTRIES.split()}
