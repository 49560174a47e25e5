// The API's shapes (API.md), as far as the add-in reads them.
export type Language = "nl" | "en" | "de";
export type RecipientType = "user" | "externalUser" | "distributionList" | "other";

export interface DraftRecipient { address: string; name?: string; type?: RecipientType }
export interface DraftAttachment { name: string; size: number; inline: boolean; id?: string }
export interface Draft {
  from?: string;
  to: DraftRecipient[];
  cc: DraftRecipient[];
  bcc: DraftRecipient[];
  subject: string;
  attachments: DraftAttachment[];
  phones: Record<string, string>;
}

export type Severity = "blocking" | "warning" | "info" | "ok";
export type Colour = "red" | "blue" | "green";
export interface Finding { rule: string; code: string; severity: Severity; colour: Colour; message: string; target?: string | null }
export interface VerdictRecipient {
  address: string; field: "to" | "cc" | "bcc"; category: string; route: string;
  access_code: "sms" | "email" | null; phone_input: "required" | "optional" | "none";
  stored_phone: string | null; nta7516: boolean | null;
}
export interface VerdictAttachment { name: string; size: number; extension: string; blocked: boolean }
export interface Verdict {
  can_send_secure: boolean;
  auto_send: boolean;
  standard_send_offered: boolean;
  notification_language: string;
  installation_type?: string;
  domain_book: { available: boolean; variant?: string; version?: string | null; synced_at?: string | null };
  sender: { address: string; in_domain_book: boolean; nta7516: boolean | null };
  recipients: VerdictRecipient[];
  attachments: { count: number; total_size: number; limit: number; items: VerdictAttachment[] };
  findings: Finding[];
}
export interface Envelope { envelope_id: string; message_id: string; headers: Record<string, string>; [key: string]: unknown }
export interface OnSendAnswer { action: "allow" | "intercept"; reasons: string[]; verdict: Verdict; envelope?: Envelope }
export interface Session {
  session_token: string; expires_at: string; idle_timeout_seconds?: number; mailbox: string; tenant_id: string;
  login_method: string;
}
export interface UserSettings { language: Language; send_delay_seconds: 0 | 5 | 10 }
export interface Info {
  version: string; domain_book_variant: string; installation_type: string; login_method: string;
  security_by_default: boolean; manual_url: string; release_notes_url: string;
}
export interface Country { region: string; name: string; calling_code: number | string }
export interface StoredPhone { address: string; phone: string; national_format: string; region: string }
