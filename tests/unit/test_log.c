/* The error log writer: whatever a message holds, one event is one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/portico-test-log-XXXXXX";
static char text[65536];

static int setup(void **state)
{
	char err[256];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	if (log_open(path, PT_LOG_DEBUG, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_open(NULL, PT_LOG_INFO, NULL, 0);
	unlink(path);
	strcpy(path, "/tmp/portico-test-log-XXXXXX");
	return 0;
}

static const char *read_log(void)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_log_escapes_newlines_and_control_bytes(void **state)
{
	(void)state;
	log_error("lua", "boom\nstack traceback:\n\t[C]: in ?\r\x01\x7f end\n");
	read_log();
	assert_int_equal(lines(text), 1);
	assert_non_null(strstr(text, "[error] lua: boom\\nstack traceback:\\n\\t[C]: in ?\\r\\x01\\x7f "
	                       "end\n"));   /* the trailing newline ends the event, once */
}

static void test_log_escapes_the_speaker_too(void **state)
{
	(void)state;
	log_warn("evil\n2026-01-01T00:00:00.000Z [error] forged", "x");
	read_log();
	assert_int_equal(lines(text), 1);
	assert_non_null(strstr(text, "[warn] evil\\n2026"));
}

static void test_log_cuts_a_huge_message_on_one_line(void **state)
{
	char *big = malloc(40000);

	(void)state;
	assert_non_null(big);
	for (int i = 0; i < 39999; i++)
		big[i] = i % 3 ? 'a' : '\n';   /* every escape doubles: far past the limit */
	big[39999] = '\0';
	log_info("core", "%s", big);
	log_info("core", "next");
	free(big);
	read_log();
	assert_int_equal(lines(text), 2);
	assert_non_null(strstr(text, "] core: next\n"));
	/* cut between escapes: the first line does not end in a lone backslash */
	assert_true(strchr(text, '\n')[-1] != '\\');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_escapes_newlines_and_control_bytes, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_log_escapes_the_speaker_too, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_cuts_a_huge_message_on_one_line, setup,
		                                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
