/*
 * h1_chunk_ext_cases.h - chunk-size lines with extensions, and what RFC 9112
 * 7.1.1 (as Portico reads it: no BWS, at most H1_MAX_CHUNK_EXT bytes) says of
 * them. test_h1_parser.c (request bodies) and test_h1_response.c (response
 * bodies) both run this table, so the two directions cannot drift apart.
 */
#ifndef H1_CHUNK_EXT_CASES_H
#define H1_CHUNK_EXT_CASES_H

struct chunk_ext_case {
	const char *body;	/* a whole chunked body */
	size_t len;
	int ok;			/* 1: decodes to "z"; 0: refused */
};

#define CX(s, ok) { s, sizeof(s) - 1, ok }

static const struct chunk_ext_case chunk_ext_cases[] = {
	CX("1;a\r\nz\r\n0\r\n\r\n", 1),
	CX("1;a=b\r\nz\r\n0\r\n\r\n", 1),
	CX("1;a;b=c;d=\"x y\"\r\nz\r\n0;last\r\n\r\n", 1),
	CX("1;a=\"q\\\"s\"\r\nz\r\n0\r\n\r\n", 1),		/* quoted-pair */
	CX("1;a=\"\x80\xff\"\r\nz\r\n0\r\n\r\n", 1),		/* obs-text in quotes */
	CX("1;!#$%&'*+-.^_`|~=x\r\nz\r\n0\r\n\r\n", 1),	/* every tchar */
	CX("1 ;a\r\nz\r\n0\r\n\r\n", 0),			/* BWS before ';' */
	CX("1; a\r\nz\r\n0\r\n\r\n", 0),			/* BWS after ';' */
	CX("1;a =b\r\nz\r\n0\r\n\r\n", 0),			/* BWS before '=' */
	CX("1;a= b\r\nz\r\n0\r\n\r\n", 0),			/* BWS after '=' */
	CX("1;\r\nz\r\n0\r\n\r\n", 0),				/* no name */
	CX("1;=b\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a=\r\nz\r\n0\r\n\r\n", 0),			/* no value */
	CX("1;a=b c\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a=b=c\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a=\"b\r\nz\r\n0\r\n\r\n", 0),			/* open quote */
	CX("1;a=\"b\"c\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a=\"\x01\"\r\nz\r\n0\r\n\r\n", 0),		/* control in quotes */
	CX("1;a=\x80\r\nz\r\n0\r\n\r\n", 0),			/* obs-text is no token */
	CX("1;a(b)\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a\nz\r\n0\r\n\r\n", 0),				/* bare LF */
	CX("1;a\rz\r\n0\r\n\r\n", 0),				/* bare CR */
	CX("1;a\tb\r\nz\r\n0\r\n\r\n", 0),
	CX("1;a\x00" "b\r\nz\r\n0\r\n\r\n", 0),
};

#define N_CHUNK_EXT_CASES (sizeof(chunk_ext_cases) / sizeof(chunk_ext_cases[0]))

/*
 * Decode BODY/LEN with the shared decoder, STEP bytes more per call, into
 * OUT/CAP. Returns 1 when done, 0 when refused, -1 when it stopped early.
 */
static int chunk_ext_run(const char *body, size_t len, size_t step, char *out,
                         size_t cap, size_t *outn)
{
	struct h1_chunked c;
	size_t off = 0, end = step < len ? step : len;

	h1_chunked_init(&c, 64);
	*outn = 0;
	while (!c.done) {
		const char *d;
		size_t dl;
		ssize_t r = h1_chunked_decode(&c, body + off, end - off, &d, &dl);

		if (r < 0)
			return 0;
		if (*outn + dl <= cap)
			memcpy(out + *outn, d, dl);
		*outn += dl;
		off += (size_t)r;
		if (r == 0 && dl == 0) {
			if (end == len)
				return -1;
			end = end + step < len ? end + step : len;
		}
	}
	return 1;
}

/* Every case, whole and a byte at a time, plus the length bound. */
static void chunk_ext_check_all(void)
{
	static char big[H1_MAX_CHUNK_EXT + 64];
	char out[8];
	size_t i, n, step;

	for (i = 0; i < N_CHUNK_EXT_CASES; i++) {
		const struct chunk_ext_case *k = &chunk_ext_cases[i];

		for (step = 1; step <= k->len; step += k->len - 1) {
			int r = chunk_ext_run(k->body, k->len, step, out, sizeof(out), &n);

			if (r != k->ok || (k->ok && (n != 1 || out[0] != 'z')))
				fail_msg("chunk-ext case %zu (step %zu): got %d, want %d", i, step, r,
				         k->ok);
			if (k->len < 2)
				break;
		}
	}
	/* extensions up to the bound pass; one byte more is refused */
	memset(big, 'x', sizeof(big));
	memcpy(big, "1;", 2);
	n = 2 + H1_MAX_CHUNK_EXT - 1;		/* ";" and the name count */
	memcpy(big + n, "\r\nz\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_ext_run(big, n + 10, n + 10, out, sizeof(out), &i), 1);
	memset(big, 'x', sizeof(big));
	memcpy(big, "1;", 2);
	n = 2 + H1_MAX_CHUNK_EXT;
	memcpy(big + n, "\r\nz\r\n0\r\n\r\n", 10);
	assert_int_equal(chunk_ext_run(big, n + 10, n + 10, out, sizeof(out), &i), 0);
}

#endif
