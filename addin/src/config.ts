// Build settings (esbuild `define`, see build.mjs); the fallbacks serve the unit tests.
declare const __API_BASE__: string;
declare const __ADDIN_VERSION__: string;
declare const __ENTRA_CLIENT_ID__: string;
declare const __ENTRA_SCOPE__: string;

export const API_BASE = typeof __API_BASE__ === "string" ? __API_BASE__ : "/api/v1";
export const ADDIN_VERSION = typeof __ADDIN_VERSION__ === "string" ? __ADDIN_VERSION__ : "0.0.0-test";
export const ENTRA_CLIENT_ID = typeof __ENTRA_CLIENT_ID__ === "string" ? __ENTRA_CLIENT_ID__ : "";
export const ENTRA_SCOPE = typeof __ENTRA_SCOPE__ === "string" ? __ENTRA_SCOPE__ : "";
