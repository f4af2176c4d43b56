// Microsoft Graph application permissions for the connector's identity, and nothing broader
// (no Directory.ReadWrite.All): each role is looked up by name on Microsoft Graph's service
// principal. Deploying this needs a deployer who may grant application permissions (README).
extension microsoftGraphV1

param identityPrincipalId string
@description('Also grant User.RevokeSessions.All (REVOKE_SESSIONS).')
param revokeSessions bool
@description('Also grant User-LifeCycleInfo.ReadWrite.All (LIFECYCLE_DATES).')
param lifecycleDates bool

var baseRoles = [
  'User.ReadWrite.All' // create accounts and write the synced attributes and the manager
  'User.EnableDisableAccount.All' // disable leavers and enable starters
  'User.Read.All' // find accounts by anchor, email and sign-in name
  'Domain.Read.All' // check the email is in a verified, managed domain
]
var sessionRoles = revokeSessions ? ['User.RevokeSessions.All'] : [] // revoke a leaver's sessions
var lifecycleRoles = lifecycleDates ? ['User-LifeCycleInfo.ReadWrite.All'] : [] // hire and leave dates
var roles = concat(baseRoles, sessionRoles, lifecycleRoles)

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for role in roles: {
    appRoleId: filter(graph.appRoles, candidate => candidate.value == role)[0].id
    principalId: identityPrincipalId
    resourceId: graph.id
  }
]

output granted array = roles
