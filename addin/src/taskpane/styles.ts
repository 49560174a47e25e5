import { makeStyles, tokens } from "@fluentui/react-components";

// Red = action needed, blue = informative, green = verified (manual §2.2.2); each with a text
// label as well, so colour is never the only signal (WCAG 1.4.1).
export const useStyles = makeStyles({
  root: { display: "flex", flexDirection: "column", minHeight: "100vh", boxSizing: "border-box", maxWidth: "100%" },
  header: { display: "flex", alignItems: "center", justifyContent: "space-between", padding: "8px 12px",
            backgroundColor: tokens.colorBrandBackground, color: tokens.colorNeutralForegroundOnBrand },
  headerTitle: { fontWeight: tokens.fontWeightSemibold, fontSize: tokens.fontSizeBase400, margin: 0 },
  main: { flexGrow: 1, padding: "12px", display: "flex", flexDirection: "column", gap: "12px", overflowWrap: "anywhere",
          minWidth: 0 },
  footer: { position: "sticky", bottom: 0, padding: "8px 12px", display: "flex", flexWrap: "wrap", gap: "8px",
            backgroundColor: tokens.colorNeutralBackground1, borderTop: `1px solid ${tokens.colorNeutralStroke2}` },
  card: { borderLeft: "4px solid", padding: "8px", display: "flex", flexDirection: "column", gap: "6px",
          backgroundColor: tokens.colorNeutralBackground2, minWidth: 0 },
  red: { borderLeftColor: tokens.colorPaletteRedBorderActive },
  blue: { borderLeftColor: tokens.colorBrandStroke1 },
  green: { borderLeftColor: tokens.colorPaletteGreenBorderActive },
  row: { display: "flex", gap: "8px", alignItems: "flex-end", flexWrap: "wrap" },
  fill: { width: "100%", minWidth: 0, maxWidth: "100%", boxSizing: "border-box" },
  grow: { flexGrow: 1, minWidth: "120px" },
  small: { fontSize: tokens.fontSizeBase200, color: tokens.colorNeutralForeground2 },
  section: { display: "flex", flexDirection: "column", gap: "6px" },
  toggle: { justifyContent: "flex-start", paddingLeft: 0 },
  list: { listStyleType: "none", margin: 0, padding: 0, display: "flex", flexDirection: "column", gap: "6px" },
  h2: { fontSize: tokens.fontSizeBase300, fontWeight: tokens.fontWeightSemibold, margin: 0 },
});
