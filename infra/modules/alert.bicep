// One log alert on the connector's failure telemetry: every integration log entry an operator
// must act on (a change that could not be applied, which includes each poison message, a
// failed creation or deactivation, a held run, an email given up, an account left for an
// operator) is also a warning line starting "connector alert:" (connector/storage/log.py).
param name string
param location string
param tags object
param insightsId string
@description('The NOTIFY_RECIPIENTS list: comma-separated addresses.')
param recipients string

var addresses = filter(split(replace(recipients, ' ', ''), ','), address => !empty(address))

resource group 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'lucca-conn'
    enabled: true
    emailReceivers: [
      for (address, i) in addresses: {
        name: 'recipient-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

resource failures 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'alert-${name}-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'Lucca connector: entries that need an operator'
    description: 'A change could not be applied (including poison messages), a creation or deactivation failed, a run was held, an email was given up, or an account was left for an operator. Read the integration log (README, "Watching the connector").'
    severity: 2
    enabled: true
    scopes: [insightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message startswith "connector alert:" | extend action = extract(@"^connector alert: ([^(]+) \\(", 1, message)'
          timeAggregation: 'Count'
          dimensions: [{ name: 'action', operator: 'Include', values: ['*'] }]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    autoMitigate: false
    actions: { actionGroups: [group.id] }
  }
}
