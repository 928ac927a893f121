// The SQL editor: CodeMirror 6 (app/vendor/codemirror), loaded only when the Query page opens.
// Tab is left to move focus (keyboard users must be able to leave the editor); Ctrl/Cmd+Enter runs.
// It lives in a shadow root: there CodeMirror's styles go into adopted style sheets, which the
// Content-Security-Policy allows; in the document it would add <style> elements, which it refuses.

const ERROR_CLASS = "cm-sql-error";

/**
 * Make an editor in `parent`, labelled "SQL". `onRun` is called on Ctrl/Cmd+Enter, `onChange` on edits.
 * Returns {value, setValue, setTables, markError, clearError, focus}.
 */
export async function createEditor(parent, { doc, onRun, onChange }) {
  const cm = await import("../vendor/codemirror/index.js");
  const root = parent.attachShadow({ mode: "open" });
  const styles = document.createElement("link");
  styles.rel = "stylesheet";
  styles.href = new URL("../editor.css", import.meta.url).href;
  const mount = document.createElement("div");
  root.append(styles, mount);
  const setError = cm.StateEffect.define();
  const errorField = cm.StateField.define({
    create: () => cm.Decoration.none,
    update(marks, transaction) {
      for (const effect of transaction.effects) {
        if (effect.is(setError)) {
          return effect.value
            ? cm.Decoration.set([cm.Decoration.mark({ class: ERROR_CLASS }).range(effect.value.from, effect.value.to)])
            : cm.Decoration.none;
        }
      }
      return transaction.docChanged ? cm.Decoration.none : marks; // an edit clears the mark
    },
    provide: (field) => cm.EditorView.decorations.from(field),
  });
  const language = new cm.Compartment();
  // Tables (and `table.column`) complete from the schema; a column's bare name completes anywhere,
  // as an analyst writes it in a query over one table.
  const sqlLanguage = (tables) => {
    const support = cm.sql({ dialect: cm.StandardSQL, upperCaseKeywords: true, schema: tables });
    const columns = [...new Set(Object.values(tables).flat())].map((label) => ({ label, type: "property" }));
    return [support, support.language.data.of({ autocomplete: completeFrom(columns) })];
  };

  const view = new cm.EditorView({
    parent: mount,
    root,
    state: cm.EditorState.create({
      doc,
      extensions: [
        cm.keymap.of([{ key: "Mod-Enter", run: () => (onRun(), true), preventDefault: true }]),
        cm.lineNumbers(),
        cm.EditorView.lineWrapping,
        cm.history(),
        cm.drawSelection(),
        cm.indentOnInput(),
        cm.bracketMatching(),
        cm.closeBrackets(),
        cm.autocompletion({ icons: false }),
        cm.highlightActiveLine(),
        cm.syntaxHighlighting(cm.defaultHighlightStyle, { fallback: true }),
        cm.keymap.of([...cm.closeBracketsKeymap, ...cm.defaultKeymap, ...cm.historyKeymap, ...cm.completionKeymap]),
        language.of(sqlLanguage({})),
        errorField,
        cm.placeholder("SELECT … FROM your_table"),
        cm.EditorView.contentAttributes.of({ "aria-label": "SQL" }),
        cm.EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });

  return {
    value: () => view.state.doc.toString(),
    setValue(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /** Complete these tables and their columns: {table: [column, …]}. */
    setTables(tables) {
      view.dispatch({ effects: language.reconfigure(sqlLanguage(tables)) });
    },
    markError(range) {
      view.dispatch({ effects: setError.of(range), selection: { anchor: range.from }, scrollIntoView: true });
    },
    clearError() {
      view.dispatch({ effects: setError.of(null) });
    },
    focus: () => view.focus(),
  };
}

/** A completion source offering `options` for the word before the cursor (not after a dot, and not the word itself). */
function completeFrom(options) {
  return (context) => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
    if (!word && !context.explicit) return null;
    const from = word ? word.from : context.pos;
    if (context.state.sliceDoc(from - 1, from) === ".") return null;
    const typed = word ? word.text : "";
    const offered = options.filter((option) => option.label !== typed); // a finished name needs no list
    return offered.length ? { from, options: offered, validFor: /^[A-Za-z0-9_]*$/ } : null;
  };
}
