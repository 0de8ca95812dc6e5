// The fonts of the Cyber HUD, bundled from @fontsource (no request to another
// host): Orbitron for headings and figures, Rajdhani for text. Imported first
// by both pages (main.tsx, shop/main.tsx).
import '@fontsource/orbitron/latin-500.css';
import '@fontsource/orbitron/latin-700.css';
import '@fontsource/orbitron/latin-800.css';
import '@fontsource/rajdhani/latin-400.css';
import '@fontsource/rajdhani/latin-500.css';
import '@fontsource/rajdhani/latin-600.css';
import '@fontsource/rajdhani/latin-700.css';
