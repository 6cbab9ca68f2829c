/** @type {import('tailwindcss').Config} */
module.exports = {
  // Every class lives in views/ and must appear there literally. Tests are
  // excluded so that adding a test never changes the built CSS.
  content: ["./views/**/*.templ", "./views/**/*.go", "!./views/**/*_test.go"],
  darkMode: "media",
  theme: {
    extend: {
      colors: {
        brand: {
          50: "#eef4ff",
          100: "#dbe6fe",
          500: "#4f6ef7",
          600: "#3b55e6",
          700: "#2f43c4",
          900: "#1e2a6b",
        },
      },
      fontFamily: {
        sans: ["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        mono: ["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
      },
    },
  },
  plugins: [],
};
