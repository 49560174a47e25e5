// Log Analytics and Application Insights (Entra-only ingestion: local auth off), from Azure Verified Modules.
@description('Azure region of the resources.')
param location string

@description('Name of the Log Analytics workspace.')
param workspaceName string

@description('Name of the Application Insights component.')
param appInsightsName string

@description('Days the logs are kept (NEN 7513 asks for the audit trail itself, which is in Table Storage; these are operational logs).')
@minValue(30)
@maxValue(730)
param retentionInDays int

@description('Tags on every resource.')
param tags object

module workspace 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'workspace'
  params: {
    name: workspaceName
    location: location
    dataRetention: retentionInDays
    tags: tags
    enableTelemetry: false
  }
}

module appInsights 'br/public:avm/res/insights/component:0.8.0' = {
  name: 'app-insights'
  params: {
    name: appInsightsName
    location: location
    workspaceResourceId: workspace.outputs.resourceId
    applicationType: 'web'
    kind: 'web'
    disableLocalAuth: true // telemetry only with an Entra token (the app's identity, Monitoring Metrics Publisher)
    disableIpMasking: false // client addresses are masked
    retentionInDays: retentionInDays
    tags: tags
    enableTelemetry: false
  }
}

@description('Resource id of the Log Analytics workspace (diagnostic settings).')
output workspaceId string = workspace.outputs.resourceId

@description('Name of the Application Insights component (role assignment scope).')
output appInsightsName string = appInsights.outputs.name

@description('Connection string of Application Insights: an ingestion address and component id, not a secret (local auth is off).')
output connectionString string = appInsights.outputs.connectionString
