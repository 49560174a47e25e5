import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api";
import { translator } from "../src/i18n";
import type { Language } from "../src/types";
import { describeError, waitInWords } from "../src/taskpane/errors";

const ENGLISH_DETAIL = "The subject is empty; confirm that it may be sent so.";
const problem = (status: number, code: string, extra: Record<string, unknown> = {}, retryAfter: number | null = null) =>
  new ApiError(status, code, ENGLISH_DETAIL, { code, detail: ENGLISH_DETAIL, ...extra }, retryAfter);

describe("U1: problem codes in the user's language, never the back end's English detail", () => {
  const cases: [ApiError, Record<Language, RegExp>][] = [
    [problem(422, "subject_confirmation_required",
             { errors: [{ field: "confirm_empty_subject", message: "must be true to send without a subject" }] }),
     { nl: /onderwerp is leeg/, en: /subject is empty/, de: /Betreff ist leer/ }],
    [problem(422, "draft_blocked", { verdict: {} }), { nl: /nog niet veilig/, en: /cannot be sent securely yet/, de: /noch nicht gesichert/ }],
    [problem(409, "message_id_conflict"), { nl: /eerder met een andere inhoud/, en: /offered before/, de: /schon einmal/ }],
    [problem(409, "message_revoked"), { nl: /ingetrokken/, en: /revoked/, de: /zurückgezogen/ }],
    [problem(403, "not_sender"), { nl: /Alleen de afzender/, en: /Only the sender/, de: /Nur der Absender/ }],
    [problem(429, "rate_limited", {}, 42), { nl: /over 42 seconden/, en: /in 42 seconds/, de: /in 42 Sekunden/ }],
    [problem(503, "dependency_unavailable", {}, 5), { nl: /tijdelijk niet beschikbaar.*5 seconden/, en: /temporarily unavailable.*5 seconds/,
                                                      de: /vorübergehend nicht verfügbar.*5 Sekunden/ }],
    [problem(503, "service_misconfigured", {}, 600), { nl: /over 10 minuten/, en: /in 10 minutes/, de: /in 10 Minuten/ }],
    [problem(400, "invalid_body", { errors: [{ field: "draft.to", message: "must be a list" }] }),
     { nl: /kon dit bericht niet lezen/, en: /could not read this message/, de: /konnte diese Nachricht nicht lesen/ }],
    [problem(401, "unauthenticated"), { nl: /sessie is verlopen/, en: /session has ended/, de: /Sitzung ist abgelaufen/ }],
    [problem(418, "something_new"), { nl: /Er ging iets mis\. Probeer/, en: /Something went wrong\. Try/, de: /Etwas ist schiefgegangen\. Versuchen/ }],
    [new ApiError(0, "timeout", "timeout"), { nl: /niet op tijd/, en: /not answer in time/, de: /nicht rechtzeitig/ }],
  ];
  for (const [error, expected] of cases) {
    it(`${error.status} ${error.code}`, () => {
      for (const language of ["nl", "en", "de"] as Language[]) {
        const text = describeError(error, translator(language));
        expect(text).toMatch(expected[language]);
        expect(text).not.toMatch(/must be|confirm that it may|\{|\}/);  // no server English, no unfilled variable
      }
    });
  }
  it("an unknown failure is a generic sentence, without the exception's (English) text", () => {
    expect(describeError(new Error("Office call failed"), translator("nl"))).toBe("Er ging iets mis. Probeer het opnieuw.");
  });
  it("a phone number refused on Opslaan keeps the back end's own localised field message", () => {
    const error = problem(422, "invalid_phone", { errors: [{ field: "phone", message: "12345 is geen geldig telefoonnummer." }] });
    expect(describeError(error, translator("nl"))).toBe("12345 is geen geldig telefoonnummer.");
  });
  it("waits in words", () => {
    const t = translator("nl");
    expect([waitInWords(1, t), waitInWords(30, t), waitInWords(119, t), waitInWords(3600, t)])
      .toEqual(["1 seconde", "30 seconden", "119 seconden", "60 minuten"]);
  });
});
