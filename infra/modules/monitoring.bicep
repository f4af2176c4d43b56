// Log Analytics and Application Insights with local (key) authentication off: the app
// sends telemetry with its identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and the
// Monitoring Metrics Publisher role.
param workspaceName string
param insightsName string
param location string
param tags object
param identityPrincipalId string

@description('How long logs are kept (days).')
param retentionInDays int = 90

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
    features: { disableLocalAuth: true }
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: insightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: insights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

output workspaceId string = workspace.id
output insightsId string = insights.id
output insightsConnectionString string = insights.properties.ConnectionString

// The connector's provisioning logs as a picture (laid out like Entra's): entries by outcome
// per day, what waits for an operator, the webhook's p95 against Lucca's 3 s, each timer's last
// run, held runs. Its queries read only what the connector writes (tests/unit/test_infra_deploy.py).
resource workbook 'Microsoft.Insights/workbooks@2022-04-01' = {
  name: guid(insights.id, 'lucca-connector-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Lucca connector: provisioning logs'
    category: 'workbook'
    serializedData: loadTextContent('workbook.json')
    sourceId: insights.id
  }
}
