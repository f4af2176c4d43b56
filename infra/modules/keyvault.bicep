// Key Vault in RBAC mode for the two Lucca secrets. This template creates no secret: the
// operator sets `lucca-client-secret` and `lucca-webhook-secret` (README, "Deploy"), and the
// app settings reference them by name, so a re-provision never overwrites them.
param name string
param location string
param tags object
param identityPrincipalId string
@description('The deployer (AZURE_PRINCIPAL_ID), who may set the secrets; empty: nobody here.')
param deployerPrincipalId string
@description('Recover the soft-deleted vault of this name (after `azd down`) instead of creating one.')
param recover bool
param workspaceId string

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:Key Vault references from a Flex Consumption app without a virtual network come over the public endpoint; RBAC (Secrets User for the app only) guards it
  // checkov:skip=CKV_AZURE_189:Same reason: public network access is needed without a virtual network
  name: name
  location: location
  tags: tags
  properties: {
    createMode: recover ? 'recover' : 'default'
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'audit', enabled: true }]
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

resource deployerSetsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, secretsOfficer)
  scope: vault
  properties: {
    principalId: deployerPrincipalId // a person, or a pipeline's service principal: no principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
  }
}

output name string = vault.name
