// The storage account behind AzureWebJobsStorage: the connector's tables and queues, the
// Functions host's own blobs, and the container Flex Consumption deploys the package from.
// Shared keys are off: the identity reaches it with the three data roles below.
param name string
param location string
param tags object
param identityPrincipalId string
@description('The person (or pipeline) who ran azd: reads and writes the tables from their machine (doctor, logs, the CLI). Empty: nobody.')
param deployerPrincipalId string = ''

var deploymentContainerName = 'app-package'
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host blobs and the deployment package
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // lucca-changes and its poison queue
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // links, journal, schedule, outbox, log
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Flex Consumption without a virtual network reaches storage over its public endpoint; Entra ID roles (shared keys off) guard it
  // checkov:skip=CKV_AZURE_59:Same reason: public network access is needed without a virtual network
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_GRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
    sasPolicy: { sasExpirationPeriod: '00.01:00:00', expirationAction: 'Log' }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(roles): {
    name: guid(account.id, identityPrincipalId, role.value)
    scope: account
    properties: {
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    }
  }
]

// The setup hook's doctor, and the command line on the deployer's machine, use the tables (the
// Lucca limiter's row, the log, the schedule) with the deployer's own sign-in.
resource deployerUsesTables 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(account.id, deployerPrincipalId, roles.tableDataContributor)
  scope: account
  properties: {
    principalId: deployerPrincipalId // a person, or a pipeline's service principal: no principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
  }
}

output name string = account.name
output deploymentContainerName string = deploymentContainer.name
