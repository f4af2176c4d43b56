// The log alerts on the connector's telemetry, to one action group:
// - failures: every integration log entry an operator must act on (a change that could not be
//   applied, which includes each poison message, a failed creation or deactivation, a held
//   run, an email given up, an account left for an operator) is also a warning line starting
//   "connector alert:" (connector/storage/log.py);
// - settings: refused settings (connector/runtime/startup.py) make every timer and queue
//   function write "connector alert: settings invalid (...)" at each run, and nothing else;
// - heartbeat: no deactivate_leavers run (every 5 minutes) in 30 minutes: the app is stopped,
//   not starting, or its host cannot run it, and so writes no line at all;
// - functionFailures: function executions that failed (an exception, a timeout).
// The last three are outages: their actions are muted for a while after they fire
// (muteActionsDuration), so one outage is one email, not one every 15 minutes.
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

resource failures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
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
          query: 'traces | where message startswith "connector alert:" and not(message startswith "connector alert: settings invalid") | extend action = extract(@"^connector alert: ([^(]+) \\(", 1, message)'
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

resource settings 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${name}-settings'
  location: location
  tags: tags
  properties: {
    displayName: 'Lucca connector: settings refused, nothing runs'
    description: 'A setting is missing or malformed (the alert line names it, never its value): the webhook answers 503 and no timer or queue function does anything. Run `python -m connector doctor`, fix the setting (README, "Troubleshooting").'
    severity: 1
    enabled: true
    scopes: [insightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'traces | where message startswith "connector alert: settings invalid"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    muteActionsDuration: 'PT24H'
    autoMitigate: false
    actions: { actionGroups: [group.id] }
  }
}

resource heartbeat 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${name}-heartbeat'
  location: location
  tags: tags
  properties: {
    displayName: 'Lucca connector: no leavers run in 30 minutes'
    description: 'The deactivate_leavers timer (every 5 minutes) has not run for 30 minutes: the Function App is stopped, not starting, or its host fails before the code runs; leavers are not disabled. Check the Function App in the portal (README, "Troubleshooting").'
    severity: 1
    enabled: true
    scopes: [insightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          // Each function execution is one row of `requests`, named after the function.
          query: 'requests | where name == "deactivate_leavers"'
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    muteActionsDuration: 'PT24H'
    autoMitigate: false
    actions: { actionGroups: [group.id] }
  }
}

resource functionFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${name}-function-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'Lucca connector: function executions failing'
    description: 'A function of the connector failed (an exception or a timeout), one alert per function. Application Insights: requests | where success == false, then its exceptions (README, "Watching the connector").'
    severity: 2
    enabled: true
    scopes: [insightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false | project timestamp, function = name'
          timeAggregation: 'Count'
          dimensions: [{ name: 'function', operator: 'Include', values: ['*'] }]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    muteActionsDuration: 'PT6H'
    autoMitigate: false
    actions: { actionGroups: [group.id] }
  }
}
