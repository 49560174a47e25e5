import { describe, expect, it } from "vitest";
import messages from "../src/i18n/messages.json";
import { pickLanguage, translate } from "../src/i18n";

describe("U1: languages", () => {
  it("test_u1_default_from_the_browser_else_dutch", () => {
    expect(pickLanguage(null, "de-DE")).toBe("de");
    expect(pickLanguage(null, "fr-FR")).toBe("nl");
    expect(pickLanguage("en", "de-DE")).toBe("en");
  });
  it("nl, en and de have the same texts", () => {
    const keys = (l: "nl" | "en" | "de") => Object.keys(messages[l]).sort();
    expect(keys("en")).toEqual(keys("nl"));
    expect(keys("de")).toEqual(keys("nl"));
  });
  it("fills in the variables", () => {
    expect(translate("en", "send.countdown", { n: 5 })).toBe("Your message is sent in 5 seconds.");
    expect(translate("nl", "send.secure")).toBe("Veilig verzenden");
  });
});
