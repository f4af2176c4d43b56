// The Function App on Flex Consumption: Python 3.12 set in functionAppConfig.runtime (not in
// app settings), deployed from a blob container, running as the user-assigned identity. The
// app settings are every setting the code reads (connector/runtime/settings.py) and nothing else:
// tests/unit/test_infra.py holds the two lists together; every one the template does not compute
// comes from a parameter, an azd value of the same name (tests/unit/test_infra_azd.py).
param planName string
param appName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param insightsConnectionString string
param vaultName string
param acsEndpoint string
param notifySender string
@description('A verified custom domain sends: its higher limits (30 a minute, 100 an hour) apply.')
param customDomainSending bool
param luccaBaseUrl string
param luccaClientId string
@description('The id `python -m connector webhook register` printed (catch-up watches its status); empty: not watched.')
param luccaWebhookEndpointId string
param connectorMode string
param notifyRecipients string
param notifyLanguage string
param leaverTimeZone string
param maxSuddenDeactivations int
param maxDeactivationsPerDay int
param revokeSessions bool
param lifecycleDates bool
param matchScope string
param matchScopeAddCreated bool
param alwaysReadyInstances int
param maximumInstanceCount int
// The settings below are azd values (infra/main.parameters.json), one parameter each.
param luccaTokenUrl string
param graphBaseUrl string
param syncDelaySeconds int
param retryWindowHours int
param retryDelaysSeconds string
param syncAttributes string
param syncUpn bool
param contractGapDays int
param enableDaysBeforeStart int
param scheduleTimer string
param releaseHeldRun string
param loginTemplate string
param loginSetsMail bool
param luccaMaxRpm int
param luccaRateWindowSeconds string
param luccaEmployeeUrlTemplate string
param notifyMaxAttempts int
param notifyTimer string
param notifyDailyDigest string
param logRetentionDays int
param housekeepingTimer string
param catchupTimer string
param reconcileAt string
param reconcileTimer string
param reconcileMaxChanges int
param reconcileLeftDays int
param syncMappingFile string
param matchBy string
param restoreDeletedAccounts bool
param syncScope string
param scopeExitAction string
param reconcileSlicePages int

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Flex Consumption offers zone redundancy in some regions only; the connector's state is in geo-redundant storage, and a lost instance only delays a queue message (and Lucca retries a webhook call)
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222:Lucca calls the webhook from the internet; its signature (constant-time check, replay window) and a key of the lucca_webhook function only guard it, and GET /api/logs takes its own function key (docs/security.md)
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales on demand; alwaysReadyInstances keeps the webhook warm (a failover minimum is an App Service plan setting)
  // checkov:skip=CKV_AZURE_213:The connector exposes no health endpoint to probe (a ping would cost Lucca requests); the host restarts failed workers, and the log alerts watch the outcomes and a heartbeat (no leavers run in 30 minutes)
  // checkov:skip=CKV_AZURE_17:Lucca cannot present a client certificate
  // checkov:skip=CKV_AZURE_78:siteConfig.ftpsState is among the Flex Consumption deprecations (removed); FTP publishing is refused by the ftp basicPublishingCredentialsPolicies below instead
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [for setting in items(appSettings): { name: setting.key, value: setting.value }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
        alwaysReady: alwaysReadyInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyInstances }] : []
      }
      runtime: { name: 'python', version: '3.12' }
    }
  }
}

// Keys in a Key Vault reference, resolved by the identity (keyVaultReferenceIdentity).
var luccaClientSecret = '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=lucca-client-secret)'
var luccaWebhookSecret = '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=lucca-webhook-secret)'

var appSettings = {
  // The Functions host: storage and telemetry through the identity, no key anywhere.
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: insightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // The connector (README, "Settings").
  AZURE_CLIENT_ID: identityClientId
  LUCCA_BASE_URL: luccaBaseUrl
  LUCCA_TOKEN_URL: luccaTokenUrl
  LUCCA_CLIENT_ID: luccaClientId
  LUCCA_CLIENT_SECRET: luccaClientSecret
  LUCCA_WEBHOOK_SECRET: luccaWebhookSecret
  LUCCA_WEBHOOK_SECRET_PREVIOUS: '' // during a rotation only (README)
  GRAPH_BASE_URL: graphBaseUrl
  LEAVER_TIME_ZONE: leaverTimeZone
  MAX_SUDDEN_DEACTIVATIONS: string(maxSuddenDeactivations)
  MAX_DEACTIVATIONS_PER_DAY: string(maxDeactivationsPerDay)
  CONNECTOR_MODE: connectorMode
  SYNC_DELAY_SECONDS: string(syncDelaySeconds)
  RETRY_WINDOW_HOURS: string(retryWindowHours)
  RETRY_DELAYS_SECONDS: retryDelaysSeconds
  SYNC_ATTRIBUTES: syncAttributes
  SYNC_UPN: string(syncUpn)
  CONTRACT_GAP_DAYS: string(contractGapDays)
  ENABLE_DAYS_BEFORE_START: string(enableDaysBeforeStart)
  SCHEDULE_TIMER: scheduleTimer
  REVOKE_SESSIONS: string(revokeSessions)
  RELEASE_HELD_RUN: releaseHeldRun
  LIFECYCLE_DATES: string(lifecycleDates)
  MATCH_SCOPE: matchScope
  MATCH_SCOPE_ADD_CREATED: string(matchScopeAddCreated)
  LOGIN_TEMPLATE: loginTemplate
  LOGIN_SETS_MAIL: string(loginSetsMail)
  LUCCA_MAX_RPM: string(luccaMaxRpm)
  LUCCA_RATE_WINDOW_SECONDS: luccaRateWindowSeconds
  NOTIFY_RECIPIENTS: notifyRecipients
  NOTIFY_SENDER: notifySender
  ACS_ENDPOINT: acsEndpoint
  ACS_CONNECTION_STRING: '' // the identity sends: no access key
  NOTIFY_LANGUAGE: notifyLanguage
  LUCCA_EMPLOYEE_URL_TEMPLATE: empty(luccaEmployeeUrlTemplate) ? '{base}/directory/user/{id}' : luccaEmployeeUrlTemplate
  NOTIFY_MAX_PER_MINUTE: customDomainSending ? '30' : '5'
  NOTIFY_MAX_PER_HOUR: customDomainSending ? '100' : '10'
  NOTIFY_MAX_ATTEMPTS: string(notifyMaxAttempts)
  NOTIFY_TIMER: notifyTimer
  NOTIFY_DAILY_DIGEST: notifyDailyDigest
  LOG_RETENTION_DAYS: string(logRetentionDays)
  HOUSEKEEPING_TIMER: housekeepingTimer
  CATCHUP_TIMER: catchupTimer
  LUCCA_WEBHOOK_ENDPOINT_ID: luccaWebhookEndpointId
  RECONCILE_AT: reconcileAt == 'off' ? '' : reconcileAt
  RECONCILE_TIMER: reconcileTimer
  RECONCILE_MAX_CHANGES: string(reconcileMaxChanges)
  RECONCILE_LEFT_DAYS: string(reconcileLeftDays)
  SYNC_MAPPING_FILE: syncMappingFile
  MATCH_KEY: matchBy
  RESTORE_DELETED_ACCOUNTS: string(restoreDeletedAccounts)
  SYNC_SCOPE: syncScope
  SCOPE_EXIT_ACTION: scopeExitAction
  RECONCILE_SLICE_PAGES: string(reconcileSlicePages)
}

// Deployments authenticate with Entra ID (azd); basic publishing credentials stay off.
resource noFtp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource noScmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: { allow: false }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
