// Azure Communication Services Email: an Email Communication Service with an Azure-managed
// domain (and, once verified, your own), linked to a Communication Services resource that
// the identity may send through: by default with the built-in role Microsoft documents for
// sending with Entra ID, or a role the deployer names (`custom`: a narrower custom role).
param token string
param tags object
param dataLocation string
@description('Your own sender domain; empty: only the Azure-managed one.')
param customDomain string
@description('true once the custom domain is verified: it is then linked and used.')
param customDomainVerified bool
param identityPrincipalId string
@description('The sender role: a role definition GUID (default: the built-in "Communication and Email Service Owner"), or `custom` for the custom role below.')
// https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (Communication and
// Email Service Owner): the role Microsoft's ACS pages name for sending with an Entra identity.
param senderRole string = '09976791-48a7-449e-bb21-39d1a415f350'

var useCustomDomain = !empty(customDomain) && customDomainVerified

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'ecs-${token}'
  location: 'global'
  tags: tags
  properties: { dataLocation: dataLocation }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource ownDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = if (!empty(customDomain)) {
  parent: emailService
  name: empty(customDomain) ? 'unused' : customDomain
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'CustomerManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-${token}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: useCustomDomain ? [managedDomain.id, ownDomain.id] : [managedDomain.id]
  }
}

// senderRole = 'custom': the three actions Microsoft documents for a custom role that sends
// email with an Entra ID identity (documented for SMTP; not confirmed for the REST send the
// connector uses, hence not the default). The built-in role would also let the identity read
// the access keys and delete the resources.
resource customSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (senderRole == 'custom') {
  name: guid(resourceGroup().id, 'lucca-connector-email-sender')
  properties: {
    roleName: 'Lucca connector email sender (${token})'
    description: 'Send email through the connector\'s Communication Services resource.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

var senderRoleId = senderRole == 'custom' ? customSenderRole.name : senderRole

resource canSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identityPrincipalId, senderRoleId)
  scope: communication
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', senderRoleId)
  }
}

output endpoint string = 'https://${communication.properties.hostName}'
output sender string = 'DoNotReply@${useCustomDomain ? customDomain : managedDomain.properties.mailFromSenderDomain}'
output customDomainSending bool = useCustomDomain
output customDomainRecords object = empty(customDomain) ? {} : ownDomain.properties.verificationRecords
