// nl/en/de texts (U1): the user's setting, else the browser's (Outlook's) language, else Dutch.
import messages from "./i18n/messages.json";
import type { Language } from "./types";

export type MessageKey = keyof typeof messages.nl;
export const LANGUAGES: Language[] = ["nl", "en", "de"];

export function pickLanguage(...candidates: (string | null | undefined)[]): Language {
  for (const candidate of candidates) {
    const code = (candidate ?? "").slice(0, 2).toLowerCase();
    if ((LANGUAGES as string[]).includes(code)) return code as Language;
  }
  return "nl";
}

export function translate(language: Language, key: MessageKey, vars: Record<string, string | number> = {}): string {
  const table = messages[language] as Record<string, string>;
  const text = table[key] ?? (messages.nl as Record<string, string>)[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;
export const translator = (language: Language): Translate => (key, vars) => translate(language, key, vars);
