// The Lucca → Entra ID connector in one resource group: `azd up` deploys this at subscription
// scope. Shapes follow Azure's Flex Consumption quickstarts; every identity is the one
// user-assigned managed identity below, and no secret passes through a parameter or an output.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('The azd environment name: names the resource group and seeds the resource names.')
param environmentName string

// The regions that offer Flex Consumption, as Microsoft's quickstart lists them
// (Azure-Samples/functions-quickstart-python-http-azd, infra/main.bicep); azd then prompts
// with these only. Check `az functionapp list-flexconsumption-locations` for new ones.
@minLength(1)
@description('The region of every regional resource (one that offers Flex Consumption).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person running azd (AZURE_PRINCIPAL_ID): may then set the two Lucca secrets in Key Vault and use the tables (the setup hook\'s doctor, the command line). Empty: nobody is granted that.')
param principalId string = ''

@description('The Lucca instance, e.g. https://acme.ilucca.net (LUCCA_BASE_URL).')
param luccaBaseUrl string

@description('The Lucca API client id (LUCCA_CLIENT_ID); its secret goes into Key Vault, never here.')
param luccaClientId string

@description('The Lucca webhook endpoint id (`python -m connector webhook register` prints it): the catch-up timer alerts when Lucca suspends it. Empty: not watched.')
param luccaWebhookEndpointId string = ''

@allowed(['observe', 'apply'])
@description('observe: plan and log, write nothing to Entra (go live with it); apply: act.')
param connectorMode string = 'observe'

@description('Who gets the notification emails and the failure alert, comma-separated. Empty: none.')
param notifyRecipients string = ''

@allowed(['en', 'fr'])
@description('The language of the notification emails.')
param notifyLanguage string = 'en'

@description('The zone leavers\' calendar days are computed in; "establishment" for each employee\'s own.')
param leaverTimeZone string = 'Europe/Paris'

@minValue(0)
@description('Above this many deactivations at once, a run is held for an operator.')
param maxSuddenDeactivations int = 20

@minValue(0)
@maxValue(100000)
@description('Above this many deactivations in a local day, whatever their notice, a run is held for an operator; more end dates entered in a day alert once.')
param maxDeactivationsPerDay int = 20

@description('Revoke a leaver\'s sign-in sessions after disabling the account (User.RevokeSessions.All).')
param revokeSessions bool = true

@description('Also write employeeHireDate and employeeLeaveDateTime; grants User-LifeCycleInfo.ReadWrite.All.')
param lifecycleDates bool = false

@description('MATCH_SCOPE: only accounts in this group (group:<object id>) or administrative unit (au:<object id>) are matched by email. Empty: any account.')
param matchScope string = ''

@description('Put the accounts the connector creates in MATCH_SCOPE; grants GroupMember.ReadWrite.All or AdministrativeUnit.ReadWrite.All.')
param matchScopeAddCreated bool = false

@description('Grant the identity its Microsoft Graph application permissions here (needs a deployer allowed to grant them, see the README). false: an administrator grants them with az rest.')
param grantGraphPermissions bool = true

@minValue(0)
@maxValue(10)
@description('Always-ready instances for the HTTP function (the webhook): 0 saves their cost, but a cold start can exceed the 3 s Lucca waits.')
param alwaysReadyInstances int = 1

@minValue(1)
@maxValue(1000)
@description('The most instances the app scales out to; the Lucca rate limit, not CPU, bounds the work.')
param maximumInstanceCount int = 40

@description('true to recover this environment\'s soft-deleted Key Vault (after `azd down`; purge protection keeps its name 90 days), secrets included.')
param keyVaultRecover bool = false

@description('The role the identity gets on Communication Services to send the emails: a role definition GUID (default: the built-in "Communication and Email Service Owner", which Microsoft documents for sending with Entra ID), or `custom` for a narrower custom role of the three actions documented for SMTP.')
param emailSenderRole string = '09976791-48a7-449e-bb21-39d1a415f350'

@allowed(['Europe', 'France', 'Germany', 'Switzerland', 'UK', 'United States', 'Norway'])
@description('Where Communication Services keeps its data at rest.')
param emailDataLocation string = 'Europe'

@description('Your own sender domain (e.g. mail.acme.fr). Empty: the Azure-managed domain only.')
param customEmailDomain string = ''

@description('true once the custom domain\'s DNS records are verified: it is then linked and used as the sender.')
param customEmailDomainVerified bool = false

// The app settings, each an azd value of the same name (`azd env set NAME value`; docs/deploy.md).

@description('LUCCA_TOKEN_URL: Lucca\'s OAuth2 token endpoint.')
param luccaTokenUrl string = 'https://accounts.world.luccasoftware.com/connect/token'

@description('GRAPH_BASE_URL: Microsoft Graph\'s address (another cloud\'s, e.g. https://graph.microsoft.us/v1.0).')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('SYNC_DELAY_SECONDS: Seconds a change waits in the queue before it is synced (Lucca\'s bursts become one sync).')
param syncDelaySeconds int = 10

@description('RETRY_WINDOW_HOURS: Hours a change that failed for a transient reason is retried (0: the host\'s tries only).')
param retryWindowHours int = 24

@description('RETRY_DELAYS_SECONDS: The waits between those retries, in seconds, comma-separated.')
param retryDelaysSeconds string = '60,300,900,3600'

@description('SYNC_ATTRIBUTES: The Entra attributes the connector owns, comma-separated (docs/configuration.md).')
param syncAttributes string = 'surname,givenName,displayName,mail,department,jobTitle,manager,employeeId'

@description('SYNC_UPN: Rename a linked account\'s userPrincipalName when the professional email changes.')
param syncUpn bool = false

@description('CONTRACT_GAP_DAYS: A next contract starting within this many days after the last day continues the account (0: only one starting the next day).')
param contractGapDays int = 0

@description('ENABLE_DAYS_BEFORE_START: Days before the first contract day a future hire\'s account is enabled.')
param enableDaysBeforeStart int = 0

@description('SCHEDULE_TIMER: NCRONTAB (six fields, UTC) of the dated actions\' timer.')
param scheduleTimer string = '0 */5 * * * *'

@description('RELEASE_HELD_RUN: A held run\'s id, to let it act (then set it back to empty).')
param releaseHeldRun string = ''

@description('LOGIN_TEMPLATE: Logins built from names for employees without a professional email, e.g. {firstName}.{lastName}@acme.fr; empty: none.')
param loginTemplate string = ''

@description('LOGIN_SETS_MAIL: With LOGIN_TEMPLATE, mail is that login too.')
param loginSetsMail bool = true

@description('LUCCA_MAX_RPM: Lucca requests a minute the connector spends (of the 50 Lucca allows a tenant).')
param luccaMaxRpm int = 30

@description('LUCCA_RATE_WINDOW_SECONDS: The rate limiter\'s window, in seconds.')
param luccaRateWindowSeconds string = '60'

@description('LUCCA_EMPLOYEE_URL_TEMPLATE: The link to an employee\'s file in the emails ({base}, {id}); empty: {base}/directory/user/{id}.')
param luccaEmployeeUrlTemplate string = ''

@description('NOTIFY_MAX_ATTEMPTS: Tries per email before it is given up.')
param notifyMaxAttempts int = 5

@description('NOTIFY_TIMER: NCRONTAB (six fields, UTC) of the email outbox\'s timer.')
param notifyTimer string = '30 * * * * *'

@description('NOTIFY_DAILY_DIGEST: HH:MM (LEAVER_TIME_ZONE) of a daily email: tomorrow\'s starts and leavers, held runs, open conflicts; empty: none.')
param notifyDailyDigest string = ''

@description('LOG_RETENTION_DAYS: Days the integration log keeps its entries.')
param logRetentionDays int = 400

@description('HOUSEKEEPING_TIMER: NCRONTAB (six fields, UTC) of the housekeeping timer.')
param housekeepingTimer string = '0 30 3 * * *'

@description('CATCHUP_TIMER: NCRONTAB (six fields, UTC) of the catch-up timer.')
param catchupTimer string = '0 */15 * * * *'

@description('RECONCILE_AT: Local time (HH:MM, LEAVER_TIME_ZONE) of the nightly reconciliation; off: none.')
param reconcileAt string = '02:00'

@description('RECONCILE_TIMER: NCRONTAB (six fields, UTC) of the nightly reconciliation\'s timer.')
param reconcileTimer string = '0 */10 * * * *'

@description('RECONCILE_MAX_CHANGES: The nightly reconciliation is held for an operator once it would hand the sync more employees than this.')
param reconcileMaxChanges int = 50

@description('RECONCILE_LEFT_DAYS: Leavers whose last contract day is at most this many days ago are still reconciled.')
param reconcileLeftDays int = 30

@description('SYNC_MAPPING_FILE: A JSON file of mapping rows beside the table\'s, relative to the app\'s root; empty: none.')
param syncMappingFile string = ''

@allowed(['mail', 'userPrincipalName', 'off'])
@description('MATCH_KEY: How an existing account is found after the link and the anchor: mail, userPrincipalName or off.')
param matchBy string = 'mail'

@description('RESTORE_DELETED_ACCOUNTS: Restore an employee\'s own deleted account (a rehire, a linked account IT deleted) instead of reporting it; grants User.DeleteRestore.All.')
param restoreDeletedAccounts bool = false

@description('SYNC_SCOPE: Who is synced (docs/configuration.md); empty: everyone.')
param syncScope string = ''

@allowed(['ignore', 'disable'])
@description('SCOPE_EXIT_ACTION: ignore or disable: what happens to a linked account whose employee leaves SYNC_SCOPE.')
param scopeExitAction string = 'ignore'

@description('RECONCILE_SLICE_PAGES: Pages of 100 employees one tick of the nightly reconciliation reads.')
param reconcileSlicePages int = 40

var tags = { 'azd-env-name': environmentName, application: 'lucca-entra-connector' }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: group
  params: { name: 'id-connector-${token}', location: location, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    workspaceName: 'log-${token}'
    insightsName: 'appi-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    name: 'st${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: group
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    identityPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    recover: keyVaultRecover
    workspaceId: monitoring.outputs.workspaceId
  }
}

module email 'modules/email.bicep' = {
  name: 'email'
  scope: group
  params: {
    token: token
    tags: tags
    dataLocation: emailDataLocation
    customDomain: customEmailDomain
    customDomainVerified: customEmailDomainVerified
    identityPrincipalId: identity.outputs.principalId
    senderRole: emailSenderRole
  }
}

module app 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    planName: 'plan-${token}'
    appName: 'func-connector-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    insightsConnectionString: monitoring.outputs.insightsConnectionString
    vaultName: vault.outputs.name
    acsEndpoint: email.outputs.endpoint
    notifySender: email.outputs.sender
    customDomainSending: email.outputs.customDomainSending
    luccaBaseUrl: luccaBaseUrl
    luccaClientId: luccaClientId
    luccaWebhookEndpointId: luccaWebhookEndpointId
    connectorMode: connectorMode
    notifyRecipients: notifyRecipients
    notifyLanguage: notifyLanguage
    leaverTimeZone: leaverTimeZone
    maxSuddenDeactivations: maxSuddenDeactivations
    maxDeactivationsPerDay: maxDeactivationsPerDay
    revokeSessions: revokeSessions
    lifecycleDates: lifecycleDates
    matchScope: matchScope
    matchScopeAddCreated: matchScopeAddCreated
    alwaysReadyInstances: alwaysReadyInstances
    maximumInstanceCount: maximumInstanceCount
    luccaTokenUrl: luccaTokenUrl
    graphBaseUrl: graphBaseUrl
    syncDelaySeconds: syncDelaySeconds
    retryWindowHours: retryWindowHours
    retryDelaysSeconds: retryDelaysSeconds
    syncAttributes: syncAttributes
    syncUpn: syncUpn
    contractGapDays: contractGapDays
    enableDaysBeforeStart: enableDaysBeforeStart
    scheduleTimer: scheduleTimer
    releaseHeldRun: releaseHeldRun
    loginTemplate: loginTemplate
    loginSetsMail: loginSetsMail
    luccaMaxRpm: luccaMaxRpm
    luccaRateWindowSeconds: luccaRateWindowSeconds
    luccaEmployeeUrlTemplate: luccaEmployeeUrlTemplate
    notifyMaxAttempts: notifyMaxAttempts
    notifyTimer: notifyTimer
    notifyDailyDigest: notifyDailyDigest
    logRetentionDays: logRetentionDays
    housekeepingTimer: housekeepingTimer
    catchupTimer: catchupTimer
    reconcileAt: reconcileAt
    reconcileTimer: reconcileTimer
    reconcileMaxChanges: reconcileMaxChanges
    reconcileLeftDays: reconcileLeftDays
    syncMappingFile: syncMappingFile
    matchBy: matchBy
    restoreDeletedAccounts: restoreDeletedAccounts
    syncScope: syncScope
    scopeExitAction: scopeExitAction
    reconcileSlicePages: reconcileSlicePages
  }
}

module graph 'modules/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: group
  params: {
    identityPrincipalId: identity.outputs.principalId
    revokeSessions: revokeSessions
    lifecycleDates: lifecycleDates
    restoreDeletedAccounts: restoreDeletedAccounts
    matchScope: matchScope
    matchScopeAddCreated: matchScopeAddCreated
  }
}

module alert 'modules/alert.bicep' = if (!empty(notifyRecipients)) {
  name: 'alert'
  scope: group
  params: {
    name: 'connector-${token}'
    location: location
    tags: tags
    insightsId: monitoring.outputs.insightsId
    recipients: notifyRecipients
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
// Without its key: the setup hook (infra/hooks/setup.py, after `azd deploy`: the function exists
// once the code does) makes a key of the lucca_webhook function only, never a host key, which
// opens GET /api/logs, and registers the address with Lucca.
output WEBHOOK_URL string = 'https://${app.outputs.defaultHostName}/api/lucca/webhook'
output KEY_VAULT_NAME string = vault.outputs.name
output CONNECTOR_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output CONNECTOR_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output NOTIFY_SENDER string = email.outputs.sender
output CUSTOM_EMAIL_DOMAIN_RECORDS object = email.outputs.customDomainRecords
