// A2: nested app authentication (MSAL.js in Outlook), loaded on demand (a chunk of its own), only
// for a build with an Entra client id. The token is for the back end's own API scope.
import { createNestablePublicClientApplication, type IPublicClientApplication } from "@azure/msal-browser";
import { ENTRA_CLIENT_ID, ENTRA_SCOPE } from "./config";

let pca: Promise<IPublicClientApplication> | null = null;

export async function entraAccessToken(mailbox: string, fresh = false): Promise<string> {
  pca ??= createNestablePublicClientApplication({
    auth: { clientId: ENTRA_CLIENT_ID, authority: "https://login.microsoftonline.com/common" },
  });
  const app = await pca;
  const request = { scopes: [ENTRA_SCOPE], loginHint: mailbox };
  try {
    // fresh: the back end refused the cached token for its age (login.ts); not from the cache
    return (await app.acquireTokenSilent({ ...request, forceRefresh: fresh })).accessToken;
  } catch {
    return (await app.acquireTokenPopup(request)).accessToken;  // the account chooser (manual §2.1.3.2)
  }
}
