// The connector's one identity: storage, Key Vault references, Application Insights,
// Communication Services and Microsoft Graph all see this principal and nothing else.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
