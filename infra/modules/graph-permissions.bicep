// Microsoft Graph application permissions for the connector's identity, and nothing broader
// (no Directory.ReadWrite.All): each role is looked up by name on Microsoft Graph's service
// principal. Deploying this needs a deployer who may grant application permissions (README).
extension microsoftGraphV1

param identityPrincipalId string
@description('Also grant User.RevokeSessions.All (REVOKE_SESSIONS).')
param revokeSessions bool
@description('Also grant User-LifeCycleInfo.ReadWrite.All (LIFECYCLE_DATES).')
param lifecycleDates bool
@description('Also grant User.DeleteRestore.All (RESTORE_DELETED_ACCOUNTS).')
param restoreDeletedAccounts bool
@description('MATCH_SCOPE: group:<id>, au:<id> (an administrative unit) or empty.')
param matchScope string
@description('Also grant the member write on that kind of scope (MATCH_SCOPE_ADD_CREATED).')
param matchScopeAddCreated bool

var baseRoles = [
  'User.ReadWrite.All' // create accounts and write the synced attributes and the manager
  'User.EnableDisableAccount.All' // disable leavers and enable starters
  'User.Read.All' // find accounts by anchor, email and sign-in name, and deleted users holding a login
  'Domain.Read.All' // check the email is in a verified, managed domain
  'RoleManagement.Read.Directory' // read the directory roles of an account: never link, change or disable an administrator
]
var sessionRoles = revokeSessions ? ['User.RevokeSessions.All'] : [] // revoke a leaver's sessions
var lifecycleRoles = lifecycleDates ? ['User-LifeCycleInfo.ReadWrite.All'] : [] // hire and leave dates
// restore an employee's own deleted account: Graph's least permission for it
var restoreRoles = restoreDeletedAccounts ? ['User.DeleteRestore.All'] : []
// put created accounts in MATCH_SCOPE (its membership is read with User.Read.All)
var scopeRole = startsWith(matchScope, 'au:') ? 'AdministrativeUnit.ReadWrite.All' : 'GroupMember.ReadWrite.All'
var scopeRoles = matchScopeAddCreated ? [scopeRole] : []
var roles = concat(baseRoles, sessionRoles, lifecycleRoles, restoreRoles, scopeRoles)

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
