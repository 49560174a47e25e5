import { createContext, useContext } from "react";
import type { Api } from "../api";
import type { Translate } from "../i18n";
import type { Store } from "../store";
import type { Language } from "../types";

export interface PaneContext {
  api: Api;
  store: Store;
  mailbox: string;
  language: Language;
  t: Translate;
  setLanguage(language: Language): void;
  logout(): void;
}

export const Pane = createContext<PaneContext | null>(null);
export function usePane(): PaneContext {
  const value = useContext(Pane);
  if (!value) throw new Error("usePane outside the pane");
  return value;
}
