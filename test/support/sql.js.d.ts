// The part of sql.js (SQLite in WebAssembly, https://sql.js.org) that test/support/HistoryIndex.ts uses;
// sql.js ships no type declarations of its own.
declare module "sql.js" {
  export interface Statement {
    bind(values: ReadonlyArray<string | number | null>): boolean
    step(): boolean
    getAsObject(): Record<string, unknown>
    free(): boolean
  }
  export interface Database {
    prepare(sql: string): Statement
    close(): void
  }
  export interface SqlJsStatic {
    readonly Database: new (data?: Uint8Array) => Database
  }
  export default function initSqlJs(config?: object): Promise<SqlJsStatic>
}
