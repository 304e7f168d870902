package store

import (
	"database/sql"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/callbacks"
	"gorm.io/gorm/clause"
	gormlogger "gorm.io/gorm/logger"
	"gorm.io/gorm/migrator"
	"gorm.io/gorm/schema"

	// The pure-Go SQLite (no cgo), registered as database/sql driver "sqlite". Unlike the
	// older drivers built on it, it keeps a prepared statement's compiled form, which the
	// per-request statements depend on.
	_ "modernc.org/sqlite"
)

// sqliteDriver is the database/sql driver name of modernc.org/sqlite.
const sqliteDriver = "sqlite"

// sqliteDialector is gorm's dialect for SQLite on an open *sql.DB. The store needs only the
// query side of a dialect: the schema is created by the SQL migrations in migrate.go, never
// by gorm's migrator (Migrator returns gorm's generic one, DataTypeOf a plain mapping).
type sqliteDialector struct {
	conn *sql.DB
}

var (
	_ gorm.Dialector                     = sqliteDialector{}
	_ gorm.SavePointerDialectorInterface = sqliteDialector{}
)

func (sqliteDialector) Name() string { return "sqlite" }

// Initialize registers gorm's default callbacks for SQLite >= 3.35 (INSERT ... RETURNING).
func (d sqliteDialector) Initialize(db *gorm.DB) error {
	db.ConnPool = d.conn
	callbacks.RegisterDefaultCallbacks(db, &callbacks.Config{
		CreateClauses:        []string{"INSERT", "VALUES", "ON CONFLICT", "RETURNING"},
		UpdateClauses:        []string{"UPDATE", "SET", "FROM", "WHERE", "RETURNING"},
		DeleteClauses:        []string{"DELETE", "FROM", "WHERE", "RETURNING"},
		LastInsertIDReversed: true,
	})
	// SQLite has no row locks: a FOR UPDATE clause is dropped (the single writer serialises
	// the transactions that would need one).
	db.ClauseBuilders["FOR"] = func(c clause.Clause, b clause.Builder) {
		if _, ok := c.Expression.(clause.Locking); ok {
			return
		}
		c.Build(b)
	}
	return nil
}

func (d sqliteDialector) Migrator(db *gorm.DB) gorm.Migrator {
	return migrator.Migrator{Config: migrator.Config{DB: db, Dialector: d}}
}

func (sqliteDialector) DataTypeOf(f *schema.Field) string {
	switch f.DataType {
	case schema.Bool, schema.Int, schema.Uint:
		return "INTEGER"
	case schema.Float:
		return "REAL"
	case schema.Time:
		return "DATETIME"
	case schema.Bytes:
		return "BLOB"
	}
	return "TEXT"
}

func (sqliteDialector) DefaultValueOf(*schema.Field) clause.Expression {
	return clause.Expr{SQL: "NULL"}
}

func (sqliteDialector) BindVarTo(w clause.Writer, _ *gorm.Statement, _ any) {
	_ = w.WriteByte('?')
}

// QuoteTo writes an identifier in backquotes, each part of a dotted name on its own
// ("messages.id" -> `messages`.`id`); backquotes inside are doubled.
func (sqliteDialector) QuoteTo(w clause.Writer, name string) {
	for i, part := range strings.Split(name, ".") {
		if i > 0 {
			_ = w.WriteByte('.')
		}
		_, _ = w.WriteString("`" + strings.ReplaceAll(part, "`", "``") + "`")
	}
}

func (sqliteDialector) Explain(sql string, vars ...any) string {
	return gormlogger.ExplainSQL(sql, nil, `"`, vars...)
}

// SavePoint and RollbackTo serve gorm's nested transactions.
func (sqliteDialector) SavePoint(tx *gorm.DB, name string) error {
	return tx.Exec(fmt.Sprintf("SAVEPOINT %q", name)).Error
}

func (sqliteDialector) RollbackTo(tx *gorm.DB, name string) error {
	return tx.Exec(fmt.Sprintf("ROLLBACK TO SAVEPOINT %q", name)).Error
}
