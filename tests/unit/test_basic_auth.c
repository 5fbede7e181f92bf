/*
 * HTTP Basic checks (plugins/rest/basic.c): an unknown user costs one
 * password hash, like a wrong password, so answer times do not tell which
 * users exist. Counted, not timed: passwd_verify is wrapped (--wrap) and
 * records each hash it is asked to compute.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <crypt.h>

#include "basic.h"
#include "passwd.h"

int __real_passwd_verify(const char *password, size_t plen, const char *hash);
int __wrap_passwd_verify(const char *password, size_t plen, const char *hash);

static int calls;
static char last_hash[256];

int __wrap_passwd_verify(const char *password, size_t plen, const char *hash)
{
	calls++;
	snprintf(last_hash, sizeof(last_hash), "%s", hash);
	return __real_passwd_verify(password, plen, hash);
}

static char *hash_of(const char *pw, const char *prefix, unsigned long cost)
{
	struct crypt_data cd;
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];

	memset(&cd, 0, sizeof(cd));
	assert_non_null(crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof(salt)));
	return strdup(crypt_r(pw, salt, &cd));
}

static const struct consumer *check(const struct consumer *cs, size_t n, const char *dummy,
                                    const char *cred)
{
	calls = 0;
	last_hash[0] = '\0';
	return basic_check(cs, n, dummy, cred, strlen(cred), NULL, 0);
}

static void test_basic_unknown_user_costs_one_hash_of_the_same_kind(void **state)
{
	char *bob = hash_of("bob-pw", "$2b$", 5), *alice = hash_of("alice-pw", "$6$", 5000);
	struct consumer cs[] = { { .name = "bob", .password = bob },
	                         { .name = "alice", .password = alice },
	                         { .name = "keyonly", .password = NULL } };
	char *dummy = passwd_dummy_like(bob);

	(void)state;
	assert_non_null(dummy);
	/* same kind and cost, well formed, matching nothing */
	assert_true(passwd_hash_supported(dummy));
	assert_memory_equal(dummy, bob, 7);
	assert_string_not_equal(dummy, bob);
	/* crypt really computes it (an error would return at once) */
	assert_int_equal(__real_passwd_verify("bob-pw", 6, dummy), 0);

	assert_ptr_equal(check(cs, 3, dummy, "bob:bob-pw"), &cs[0]);
	assert_int_equal(calls, 1);
	assert_null(check(cs, 3, dummy, "bob:wrong"));
	assert_int_equal(calls, 1);
	/* an unknown user, or one without a password: one hash, the dummy's */
	assert_null(check(cs, 3, dummy, "mallory:bob-pw"));
	assert_int_equal(calls, 1);
	assert_string_equal(last_hash, dummy);
	assert_null(check(cs, 3, dummy, "keyonly:x"));
	assert_int_equal(calls, 1);
	assert_null(check(cs, 3, dummy, ":"));
	assert_int_equal(calls, 1);
	/* the dummy itself is never a way in, whatever the password */
	assert_null(check(cs, 3, dummy, "mallory:"));
	assert_ptr_equal(check(cs, 3, dummy, "alice:alice-pw"), &cs[1]);
	free(dummy);
	free(bob);
	free(alice);
}

static void test_basic_dummy_keeps_sha_crypt_rounds(void **state)
{
	char *h5 = hash_of("pw", "$5$", 12345), *h6 = hash_of("pw", "$6$", 0);
	char *d5 = passwd_dummy_like(h5), *d6 = passwd_dummy_like(h6);

	(void)state;
	assert_non_null(d5);
	assert_non_null(d6);
	assert_true(passwd_hash_supported(d5) && passwd_hash_supported(d6));
	assert_memory_equal(d5, "$5$rounds=12345$portico.$", 25);
	assert_memory_equal(d6, "$6$portico.$", 12);
	assert_int_equal(strlen(d6), strlen("$6$portico.$") + 86);
	assert_int_equal(__real_passwd_verify("pw", 2, d5), 0);
	assert_int_equal(__real_passwd_verify("pw", 2, d6), 0);
	assert_null(passwd_dummy_like("plain-text"));
	assert_null(passwd_dummy_like("$1$abc$def"));
	free(d5);
	free(d6);
	free(h5);
	free(h6);
}

/* A cached success computes no hash; a miss computes exactly one. */
static void test_basic_cache_skips_the_hash_for_a_repeat_success(void **state)
{
	char *bob = hash_of("bob-pw", "$2b$", 4);
	struct consumer cs[] = { { .name = "bob", .password = bob } };
	struct bcache *b = basic_cache_new();

	(void)state;
	assert_non_null(b);
	calls = 0;
	assert_ptr_equal(basic_check(cs, 1, NULL, "bob:bob-pw", 10, b, 1000), &cs[0]);
	assert_ptr_equal(basic_check(cs, 1, NULL, "bob:bob-pw", 10, b, 1001), &cs[0]);
	assert_int_equal(calls, 1);
	assert_null(basic_check(cs, 1, NULL, "bob:bob-px", 10, b, 1002));
	assert_int_equal(calls, 2);
	/* expired */
	assert_ptr_equal(basic_check(cs, 1, NULL, "bob:bob-pw", 10, b, 2000), &cs[0]);
	assert_int_equal(calls, 3);
	free(b);
	free(bob);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_unknown_user_costs_one_hash_of_the_same_kind),
		cmocka_unit_test(test_basic_dummy_keeps_sha_crypt_rounds),
		cmocka_unit_test(test_basic_cache_skips_the_hash_for_a_repeat_success),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
