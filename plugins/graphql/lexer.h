/*
 * lexer.h - GraphQL tokens (specification October 2021, section 2.1).
 *
 * The source is UTF-8 and need not be NUL-terminated. Ignored tokens (the
 * byte order mark, white space, line terminators, commas and comments) are
 * skipped; everything else becomes one token. Error messages follow
 * graphql-js ("Syntax Error: Invalid number, unexpected digit after 0: "1".")
 * so clients see the wording they know from the reference implementation;
 * malformed UTF-8 is reported as an invalid character.
 */
#ifndef PORTICO_GQL_LEXER_H
#define PORTICO_GQL_LEXER_H

#include <stddef.h>

#include "gql_arena.h"

enum gql_tok {
	GQL_TOK_EOF = 0,
	GQL_TOK_BANG,		/* ! */
	GQL_TOK_DOLLAR,		/* $ */
	GQL_TOK_AMP,		/* & */
	GQL_TOK_PAREN_L,	/* ( */
	GQL_TOK_PAREN_R,	/* ) */
	GQL_TOK_SPREAD,		/* ... */
	GQL_TOK_COLON,		/* : */
	GQL_TOK_EQUALS,		/* = */
	GQL_TOK_AT,		/* @ */
	GQL_TOK_BRACKET_L,	/* [ */
	GQL_TOK_BRACKET_R,	/* ] */
	GQL_TOK_BRACE_L,	/* { */
	GQL_TOK_PIPE,		/* | */
	GQL_TOK_BRACE_R,	/* } */
	GQL_TOK_NAME,
	GQL_TOK_INT,
	GQL_TOK_FLOAT,
	GQL_TOK_STRING,
	GQL_TOK_BLOCK_STRING,
};

struct gql_token {
	enum gql_tok kind;
	size_t start, end;		/* byte offsets into the source */
	unsigned line, column;		/* 1-based; column in code points */
	/*
	 * NAME, INT, FLOAT: a borrowed view of the source text (not
	 * NUL-terminated). STRING, BLOCK_STRING: the decoded value, allocated
	 * from the lexer's arena and NUL-terminated (it may contain "\0").
	 * NULL for punctuators and EOF.
	 */
	const char *value;
	size_t value_len;
};

/* Where and why parsing failed; shared by the lexer and the parser. */
struct gql_error {
	unsigned line, column;		/* 1-based, as in struct gql_token */
	char message[256];		/* "Syntax Error: ...", valid UTF-8 */
};

struct gql_lexer {
	const char *src;		/* borrowed for the lexer's lifetime */
	size_t len;
	size_t pos;			/* next byte to scan */
	unsigned line;			/* line of pos */
	size_t line_start;		/* byte offset where that line starts */
	size_t col_off;			/* column cache: col is the column of */
	unsigned col;			/* byte offset col_off on this line */
	struct gql_arena *arena;		/* decoded strings go here */
};

/* Start lexing SRC[0..LEN); string values are allocated from A. */
void gql_lexer_init(struct gql_lexer *lx, struct gql_arena *a, const char *src,
                    size_t len);

/*
 * Read the next token into *T. Returns 0, or -1 with *ERR filled (the lexer
 * is then unusable). At the end of the source returns GQL_TOK_EOF, again on
 * every later call.
 */
int gql_lexer_next(struct gql_lexer *lx, struct gql_token *t,
                   struct gql_error *err);

/* "Name", "Int", "<EOF>", "\"{\""... as graphql-js names a token kind. */
const char *gql_tok_describe(enum gql_tok kind);

/*
 * Fill ERR with LINE, COLUMN and "Syntax Error: " followed by the formatted
 * text, cut to fit without splitting a UTF-8 sequence.
 */
void gql_error_format(struct gql_error *err, unsigned line, unsigned column,
                      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
