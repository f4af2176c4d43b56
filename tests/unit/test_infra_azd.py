"""Every app setting is an azd value: each one the Bicep does not compute comes from a parameter
of main.bicep that main.parameters.json maps to `${NAME=default}`, NAME being the setting's own
name, so `azd env set NAME value && azd provision` changes it and upgrades keep it; the defaults
are the code's."""

from __future__ import annotations

import json
import re

import pytest

from connector.runtime.settings import Settings, SettingsError, load_settings
from tests.unit.test_infra import INFRA, ROOT, app_settings, parse

FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
# What the template computes (identities, endpoints, Key Vault references, the sending
# domain's limits): an azd value would only let it drift from the resources it names.
COMPUTED = {
    "AzureWebJobsStorage__accountName": "the storage account the template creates",
    "AzureWebJobsStorage__credential": "always the managed identity",
    "AzureWebJobsStorage__clientId": "the identity the template creates",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the Application Insights resource",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "the identity signs the telemetry",
    "AZURE_CLIENT_ID": "the identity the template creates",
    "LUCCA_CLIENT_SECRET": "a Key Vault reference (the setup hook stores the secret)",
    "LUCCA_WEBHOOK_SECRET": "a Key Vault reference (the setup hook stores the secret)",
    "LUCCA_WEBHOOK_SECRET_PREVIOUS": "a secret, set during a rotation only (docs/deploy.md)",
    "NOTIFY_SENDER": "the sending domain the template links",
    "ACS_ENDPOINT": "the Communication Services resource",
    "ACS_CONNECTION_STRING": "the identity sends: no access key",
    "NOTIFY_MAX_PER_MINUTE": "the sending domain's documented limit",
    "NOTIFY_MAX_PER_HOUR": "the sending domain's documented limit",
}
# azd defaults that differ from the code's on purpose.
AZD_DEFAULTS = {"CONNECTOR_MODE": "observe"}  # a new deployment goes live observing
# azd's substitution (drone/envsubst) ends `${NAME=default}` at the first `}`, and reads an
# empty value as unset: these map the value in the Bicep instead.
MAPPED_IN_BICEP = {
    # empty → the code's default, which has braces
    "LUCCA_EMPLOYEE_URL_TEMPLATE": "empty(luccaEmployeeUrlTemplate) ? "
    "'{base}/directory/user/{id}' : luccaEmployeeUrlTemplate",
    # `off` → empty: no nightly run (an empty azd value would mean the default)
    "RECONCILE_AT": "reconcileAt == 'off' ? '' : reconcileAt",
}
# The required settings: what `azd up` asks for (no default).
REQUIRED = {"LUCCA_BASE_URL", "LUCCA_CLIENT_ID"}
AZD_VALUE = re.compile(r"^\$\{(?P<name>[A-Za-z_]\w*)(?:=(?P<default>[^}]*))?\}$")
MINIMAL = {
    "LUCCA_BASE_URL": "https://acme.ilucca.net",
    "LUCCA_CLIENT_ID": "entra-connector",
    "LUCCA_CLIENT_SECRET": "secret-1",
    "LUCCA_WEBHOOK_SECRET": "secret-2",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def setting_expressions() -> dict[str, str]:
    """Each app setting's Bicep expression, as written in functionapp.bicep."""
    source = FUNCTION_APP.read_text()
    block = source.split("var appSettings = {", 1)[1].split("\n}\n", 1)[0]
    lines = re.findall(r"^  (\w+): ((?:'[^']*'|[^'/\n]|/(?!/))+)", block, flags=re.MULTILINE)
    return {name: expression.strip() for name, expression in lines}


def passed() -> dict[str, str]:
    """main.parameters.json: parameter → the value azd substitutes."""
    document = json.loads((INFRA / "main.parameters.json").read_text())
    return {name: spec["value"] for name, spec in document["parameters"].items()}


def module_argument(setting: str) -> str:
    """The functionapp.bicep parameter the setting's expression reads (one only)."""
    module = parse(FUNCTION_APP).get("parameters", {})
    expression = re.sub(r"'[^']*'", "''", setting_expressions()[setting])
    names = [w for w in re.findall(r"[A-Za-z_]\w*", expression) if w in module]
    assert len(set(names)) == 1, (
        f"{setting}: its value must read one parameter of functionapp.bicep, not "
        f"{setting_expressions()[setting]!r}"
    )
    return names[0]


def azd_settings() -> list[str]:
    return sorted(set(app_settings()) - set(COMPUTED))


def how_to_add(setting: str) -> str:
    """What to write when a new setting is not an azd value yet."""
    param = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), setting.lower())
    default = Settings.model_fields[setting].default if setting in Settings.model_fields else ""
    text = str(default).lower() if isinstance(default, bool) else str(default)
    return (
        f"{setting} is not an azd value. Add: in infra/main.bicep `@description('…') "
        f"param {param} string = '{text}'` and `{param}: {param}` in module app's params; in "
        f"infra/modules/functionapp.bicep `param {param} string` and `{setting}: {param}` in "
        f'appSettings; in infra/main.parameters.json `"{param}": {{"value": '
        f'"${{{setting}={text}}}"}}` (or list it in COMPUTED here, with why)'
    )


def test_computed_settings_are_settings_of_the_app() -> None:
    """The exceptions name app settings that exist (a stale one would hide nothing)."""
    assert set(COMPUTED) <= set(app_settings())
    assert set(MAPPED_IN_BICEP) | set(AZD_DEFAULTS) | REQUIRED <= set(azd_settings())


@pytest.mark.parametrize("setting", azd_settings())
def test_every_setting_comes_from_an_azd_value_of_its_own_name(setting: str) -> None:
    """functionapp.bicep reads a parameter, main.bicep passes its own parameter, and
    main.parameters.json maps that to `${SETTING}` or `${SETTING=default}`."""
    expression = setting_expressions()[setting]
    assert not re.fullmatch(r"'[^']*'", expression), how_to_add(setting)
    argument = module_argument(setting)
    call = parse(INFRA / "main.bicep")["modules"]["app"]["config"]["params"]
    assert isinstance(call.get(argument), str), f"main.bicep: pass {argument} to module app"
    main_param = call[argument]
    assert main_param in parse(INFRA / "main.bicep")["parameters"], how_to_add(setting)
    value = passed().get(main_param)
    assert value is not None, how_to_add(setting)
    match = AZD_VALUE.fullmatch(value)
    assert match and match["name"] == setting, (
        f'main.parameters.json: "{main_param}" must be "${{{setting}=<default>}}", not {value!r}'
    )
    if setting in MAPPED_IN_BICEP:
        assert expression == MAPPED_IN_BICEP[setting]


@pytest.mark.parametrize("setting", sorted(set(azd_settings()) - REQUIRED))
def test_azd_defaults_are_the_code_defaults(setting: str) -> None:
    """A fresh `azd up` deploys the code's defaults (CONNECTOR_MODE apart: observe first), in
    main.parameters.json and in main.bicep's own default (a deployment without azd)."""
    main_param = parse(INFRA / "main.bicep")["modules"]["app"]["config"]["params"][
        module_argument(setting)
    ]
    match = AZD_VALUE.fullmatch(passed()[main_param])
    assert match is not None
    text = match["default"] or ""
    code_default = Settings.model_fields[setting].default
    if setting in AZD_DEFAULTS:
        assert text == AZD_DEFAULTS[setting]
    else:
        read = getattr(load_settings({**MINIMAL, setting: azd_default(setting)}), setting)
        assert read == code_default, (
            f"main.parameters.json: {setting}'s default must be the code's ({code_default!r})"
        )
    bicep_default = parse(INFRA / "main.bicep")["parameters"][main_param].get("default")
    rendered = str(bicep_default).lower() if isinstance(bicep_default, bool) else bicep_default
    assert str(rendered) == text, f"main.bicep: {main_param}'s default must be {text!r}"


@pytest.mark.parametrize("setting", sorted(REQUIRED))
def test_required_settings_have_no_default(setting: str) -> None:
    """azd asks for the Lucca instance and client id on a fresh environment."""
    main_param = parse(INFRA / "main.bicep")["modules"]["app"]["config"]["params"][
        module_argument(setting)
    ]
    assert passed()[main_param] == f"${{{setting}}}"
    assert parse(INFRA / "main.bicep")["parameters"][main_param].get("default") is None


def test_the_message_says_what_to_add() -> None:
    """A new setting the Bicep writes as a literal fails with the three lines to add."""
    message = how_to_add("SYNC_UPN")
    assert "param syncUpn string = 'false'" in message
    assert '"syncUpn": {"value": "${SYNC_UPN=false}"}' in message


# What the Bicep's computed expressions become once deployed, and the values azd asks for.
DEPLOYED = {
    "AzureWebJobsStorage__accountName": "stconnector",
    "AzureWebJobsStorage__clientId": "5f0c1a7e-0000-4000-8000-00000000c11d",
    "AZURE_CLIENT_ID": "5f0c1a7e-0000-4000-8000-00000000c11d",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-4000-8000-0;",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=5f0c1a7e;Authorization=AAD",
    "LUCCA_BASE_URL": "https://acme.ilucca.net",
    "LUCCA_CLIENT_ID": "entra-connector",
    "LUCCA_CLIENT_SECRET": "resolved-from-key-vault-1",  # what the platform puts in place
    "LUCCA_WEBHOOK_SECRET": "resolved-from-key-vault-2",  # of a resolved reference
    "NOTIFY_SENDER": "DoNotReply@0a1b2c3d.azurecomm.net",
    "ACS_ENDPOINT": "https://acs-connector.europe.communication.azure.com",
    "NOTIFY_MAX_PER_MINUTE": "5",
    "NOTIFY_MAX_PER_HOUR": "10",
}
# azd values an operator set (`azd env set`), as the app then reads them.
CHOSEN = {
    "MATCH_SCOPE": "au:4f1c2d3e-0000-4000-8000-00000000a11e",
    "MATCH_SCOPE_ADD_CREATED": "True",  # Bicep's string(true)
    "NOTIFY_RECIPIENTS": "it@acme.fr,hr@acme.fr",
    "NOTIFY_LANGUAGE": "fr",
    "LUCCA_WEBHOOK_ENDPOINT_ID": "4",
    "RECONCILE_AT": "",  # `azd env set RECONCILE_AT off`
}


def azd_default(setting: str) -> str:
    """The value a fresh `azd up` gives the setting (the Bicep's own mapping applied)."""
    main_param = parse(INFRA / "main.bicep")["modules"]["app"]["config"]["params"][
        module_argument(setting)
    ]
    match = AZD_VALUE.fullmatch(passed()[main_param])
    assert match is not None
    text = match["default"] or ""
    if setting == "LUCCA_EMPLOYEE_URL_TEMPLATE" and not text:
        return "{base}/directory/user/{id}"
    return "" if setting == "RECONCILE_AT" and text == "off" else text


def test_the_deployed_settings_start_the_connector() -> None:
    """The app settings as Azure would hold them (computed literals as written, expressions as
    deployed, azd values at their defaults or as chosen, Key Vault references resolved) pass
    the connector's start-up checks."""
    computed = setting_expressions()
    literals = {
        name: expression[1:-1]
        for name, expression in computed.items()
        if name in COMPUTED and re.fullmatch(r"'[^']*'", expression)
    }
    assert set(literals) | set(DEPLOYED) >= set(COMPUTED)  # each computed one stood in for
    defaults = {name: azd_default(name) for name in set(azd_settings()) - REQUIRED}
    environ = {**defaults, **literals, **DEPLOYED, **CHOSEN}
    assert set(environ) == set(app_settings())
    code = set(Settings.model_fields)
    settings = load_settings({k: v for k, v in environ.items() if k in code})
    assert settings.CONNECTOR_MODE == "observe"
    assert settings.ACS_CONNECTION_STRING is None and settings.ACS_ENDPOINT is not None
    assert settings.AzureWebJobsStorage is None
    assert settings.AzureWebJobsStorage__credential == "managedidentity"
    assert settings.REVOKE_SESSIONS is True and settings.LIFECYCLE_DATES is False
    assert settings.match_scope is not None and settings.match_scope.kind == "au"
    assert settings.MATCH_SCOPE_ADD_CREATED is True
    assert settings.notify_recipients == ("it@acme.fr", "hr@acme.fr")
    assert settings.RECONCILE_AT == ""
    assert settings.LUCCA_EMPLOYEE_URL_TEMPLATE == "{base}/directory/user/{id}"
    # Before the setup hook stores the two secrets, the references stay unresolved: refused.
    reference = "@Microsoft.KeyVault(VaultName=kv-x;SecretName=lucca-client-secret)"
    unresolved = {**environ, "LUCCA_CLIENT_SECRET": reference}
    with pytest.raises(SettingsError, match="LUCCA_CLIENT_SECRET"):
        load_settings({k: v for k, v in unresolved.items() if k in code})


TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"


def test_the_deployer_gets_what_the_setup_uses() -> None:
    """The person who runs azd (AZURE_PRINCIPAL_ID) sets the secrets (Key Vault Secrets
    Officer) and uses the tables (doctor's storage and Lucca checks) with their own sign-in."""
    main = parse(INFRA / "main.bicep")
    assert main["modules"]["storage"]["config"]["params"]["deployerPrincipalId"] == "principalId"
    assert main["modules"]["vault"]["config"]["params"]["deployerPrincipalId"] == "principalId"
    storage = parse(INFRA / "modules" / "storage.bicep")
    assert storage["variables"]["roles"]["value"]["tableDataContributor"] == TABLE_DATA_CONTRIBUTOR
    grant = storage["resources"]["deployerUsesTables"]["config"]
    tested = grant["condition"]["operator"]["operands"]["bool_value"]["function"]
    assert tested == {"type": "empty", "parameters": {"item_to_test": "deployerPrincipalId"}}
    properties = grant["config"]["properties"]
    assert properties["principalId"] == "deployerPrincipalId"
    role = properties["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
    assert role["operator"]["operands"] == {
        "operand_1": "roles",
        "operand_2": "tableDataContributor",
    }


def test_the_deploy_page_lists_every_azd_value() -> None:
    """docs/deploy.md names each azd value main.parameters.json reads (azd's own apart), in
    its tables, with the default the file gives it."""
    page = (ROOT / "docs" / "deploy.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", page, flags=re.MULTILINE))
    for value in passed().values():
        match = AZD_VALUE.fullmatch(value)
        assert match is not None, value
        name = match["name"]
        if name in {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID"}:
            continue
        assert name in rows, f"docs/deploy.md: add {name} to the azd values"
        default = match["default"]
        if default and name != "EMAIL_SENDER_ROLE":
            assert f"`{default}`" in rows[name], (name, default)
    for name in COMPUTED:
        assert f"`{name}`" in page, f"docs/deploy.md: say how the template computes {name}"
