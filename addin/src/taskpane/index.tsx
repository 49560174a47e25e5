import { createRoot } from "react-dom/client";
import { App } from "./App";

const mount = () => createRoot(document.getElementById("root")!).render(<App />);
if (typeof Office !== "undefined" && typeof Office.onReady === "function") Office.onReady(mount);
else mount();
