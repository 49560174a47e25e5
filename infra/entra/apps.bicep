// Entra app registrations as code (Microsoft Graph Bicep extension, bicepconfig.json pins its types):
// the API with its delegated scope and its app roles (gateway, book sync), the add-in's single-page
// registration with the nested app authentication (NAA) redirect, and the service principals.
// Deployed by someone who may create applications (Application Administrator), twice the first time
// (the second run adds what needs the first run's client ids; docs/deployment.md, docs/login.md).
extension microsoftGraphV1

@description('Short name of the environment, part of the registrations\' names (e.g. prod).')
param environmentName string

@description('Application ID URI of the API (ENTRA_API_APP_ID_URI): api://<back-end host>/<API client id> as docs/login.md has it, which needs the client id, so the first run uses api://<back-end host> and the second the full form.')
param apiIdentifierUri string

@description('Client id of the add-in\'s registration (output addinClientId of the first run): listed as a known client of the API, so one admin consent covers both. Empty on the first run.')
param knownAddinClientId string = ''

@description('Whether the API asks for Graph User.Read (delegated) for the Entra login\'s Graph check (ENTRA_GRAPH_CHECK).')
param graphCheck bool = false

@description('Path of the add-in\'s page, a normal SPA redirect for the popup fallback.')
param addinPagePath string = '/addin/taskpane.html'

@description('Host name of the add-in\'s pages (addinHostname output of main.bicep, or its custom domain).')
param addinHostname string

@description('Service principal (object) id of the gateway\'s own app, to be given the Gateway app role; empty: assign later.')
param gatewayServicePrincipalId string = ''

@description('Service principal (object) id of the domain book sync\'s app, to be given the BookSync app role; empty: assign later.')
param bookSyncServicePrincipalId string = ''

// Stable ids for the scope and roles: a redeployment must not change them (tokens carry them).
var scopeId = guid('sendsecure', environmentName, 'scope', 'access_as_user')
var gatewayRoleId = guid('sendsecure', environmentName, 'role', 'Gateway')
var bookSyncRoleId = guid('sendsecure', environmentName, 'role', 'BookSync')
var graphAppId = '00000003-0000-0000-c000-000000000000' // Microsoft Graph
var graphUserReadId = 'e1fe6dd8-ba31-4d61-89e7-88639da4683d' // delegated User.Read
var graphAccess = [
  {
    resourceAppId: graphAppId
    resourceAccess: [
      {
        id: graphUserReadId
        type: 'Scope'
      }
    ]
  }
]

resource api 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'sendsecure-api-${environmentName}'
  displayName: 'Send Secure API (${environmentName})'
  signInAudience: 'AzureADMultipleOrgs' // each customer tenant signs in with its own Entra (SPEC T3)
  identifierUris: [
    apiIdentifierUri
  ]
  requiredResourceAccess: graphCheck ? graphAccess : []
  api: {
    requestedAccessTokenVersion: 2 // v1.0 tokens are refused (docs/login.md)
    knownClientApplications: empty(knownAddinClientId) ? [] : [
      knownAddinClientId
    ]
    oauth2PermissionScopes: [
      {
        id: scopeId
        value: 'access_as_user'
        type: 'User'
        isEnabled: true
        adminConsentDisplayName: 'Use Send Secure as the signed-in user'
        adminConsentDescription: 'Lets the Send Secure add-in check and send mail securely for the signed-in user.'
        userConsentDisplayName: 'Use Send Secure for you'
        userConsentDescription: 'Lets the Send Secure add-in check and send your mail securely.'
      }
    ]
  }
  appRoles: [
    {
      id: gatewayRoleId
      value: 'Gateway'
      displayName: 'Send Secure mail gateway'
      description: 'The mail gateway: reads envelopes and reports delivery events.'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
    {
      id: bookSyncRoleId
      value: 'BookSync'
      displayName: 'Send Secure domain book sync'
      description: 'Publishes new domain book generations.'
      allowedMemberTypes: [
        'Application'
      ]
      isEnabled: true
    }
  ]
}

resource apiPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: api.appId
}

resource addin 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'sendsecure-addin-${environmentName}'
  displayName: 'Send Secure Outlook add-in (${environmentName})'
  signInAudience: 'AzureADMultipleOrgs'
  spa: {
    redirectUris: [
      'brk-multihub://${addinHostname}' // nested app authentication inside Outlook
      'https://${addinHostname}${addinPagePath}' // popup fallback
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: api.appId
      resourceAccess: [
        {
          id: scopeId
          type: 'Scope'
        }
      ]
    }
  ]
}

resource addinPrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: addin.appId
}

resource gatewayRole 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!empty(gatewayServicePrincipalId)) {
  appRoleId: gatewayRoleId
  principalId: gatewayServicePrincipalId
  resourceId: apiPrincipal.id
}

resource bookSyncRole 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (!empty(bookSyncServicePrincipalId)) {
  appRoleId: bookSyncRoleId
  principalId: bookSyncServicePrincipalId
  resourceId: apiPrincipal.id
}

@description('Client id of the API registration (ENTRA_API_CLIENT_ID: the audience the back end checks).')
output apiClientId string = api.appId

@description('Client id of the add-in\'s registration (ENTRA_ADDIN_CLIENT_ID and the add-in\'s MSAL configuration).')
output addinClientId string = addin.appId

@description('The delegated scope the add-in asks for.')
output scope string = '${apiIdentifierUri}/access_as_user'
