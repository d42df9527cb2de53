/* Unit tests for replicator/receiver/notify: the webhook's delivery
 * (issue 16) against a scripted HTTP server on loopback: 2xx delivers,
 * 5xx is retried after the back-off, 4xx drops; the request's form; a
 * full queue drops its oldest and counts it. */
#include "replicator/receiver/notify.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"

#define MAX_REQ 8

/* A server answering its requests with codes[] in turn. */
struct fake {
	int lfd;
	uint16_t port;
	int codes[MAX_REQ];
	int ncodes;
	char req[MAX_REQ][1024]; /* what each connection sent */
	int nreq;
	pthread_mutex_t mu;
	pthread_t th;
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < f->ncodes; i++) {
		char buf[1024] = "", ans[128];
		size_t len = 0;
		int c = accept(f->lfd, NULL, NULL);
		char *body;

		if (c < 0)
			return NULL;
		/* the head, then Content-Length bytes of body */
		while (len < sizeof(buf) - 1) {
			ssize_t r = read(c, buf + len, sizeof(buf) - 1 - len);

			if (r <= 0)
				break;
			len += (size_t)r;
			buf[len] = '\0';
			body = strstr(buf, "\r\n\r\n");
			if (body && strstr(buf, "Content-Length: ") &&
			    strlen(body + 4) >= strtoul(strstr(buf, "Content-Length: ") + 16, NULL, 10))
				break;
		}
		pthread_mutex_lock(&f->mu);
		memcpy(f->req[f->nreq++], buf, sizeof(buf));
		pthread_mutex_unlock(&f->mu);
		snprintf(ans, sizeof(ans), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", f->codes[i]);
		cr_assert_eq(write(c, ans, strlen(ans)), (ssize_t)strlen(ans));
		close(c);
	}
	return NULL;
}

static void
fake_start(struct fake *f, const int *codes, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	memcpy(f->codes, codes, (size_t)n * sizeof(*codes));
	f->ncodes = n;
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(f->lfd >= 0);
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(f->lfd, 8), 0);
	cr_assert_eq(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static int
fake_nreq(struct fake *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->nreq;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* The value of the unlabelled sample name on the page. */
static long
sample(const char *page, const char *name)
{
	char key[96];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(page, key);
	cr_assert_not_null(p, "%s missing from\n%s", name, page);
	return strtol(p + strlen(key), NULL, 10);
}

static char *
page_of(struct notify *n)
{
	char *body = strdup("# start\n");

	cr_assert_not_null(body);
	return notify_metrics_append(n, body);
}

Test(notify, delivered_retried_rejected)
{
	static const int codes[] = { 503, 200, 400, 204 };
	struct fake f;
	struct notify *n;
	char url[128], *page;
	double t0;

	fake_start(&f, codes, 4);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook?t=1", (unsigned)f.port);
	n = notify_new(url, NULL);
	cr_assert_not_null(n);
	t0 = clock_mono_s();
	notify_post(n, strdup("{\"e\":1}"));
	notify_post(n, strdup("{\"e\":2}"));
	notify_post(n, strdup("{\"e\":3}"));
	for (int i = 0; i < 100 && fake_nreq(&f) < 4; i++)
		clock_nap_ms(50);
	cr_assert_eq(fake_nreq(&f), 4);
	cr_assert_geq(clock_mono_s() - t0, NOTIFY_BACKOFF_MIN_S * 0.9, "retried after its back-off");
	/* 503 then 200 for e1 (retried), 400 for e2 (dropped), 204 for e3 */
	cr_assert(strstr(f.req[0], "{\"e\":1}") && strstr(f.req[1], "{\"e\":1}"));
	cr_assert(strstr(f.req[2], "{\"e\":2}"));
	cr_assert(strstr(f.req[3], "{\"e\":3}"));
	cr_assert_eq(strncmp(f.req[0], "POST /hook?t=1 HTTP/1.1\r\n", 25), 0, "%s", f.req[0]);
	snprintf(url, sizeof(url), "\r\nHost: 127.0.0.1:%u\r\n", (unsigned)f.port);
	cr_assert(strstr(f.req[0], url), "%s", f.req[0]);
	cr_assert(strstr(f.req[0], "\r\nContent-Type: application/json\r\n"), "%s", f.req[0]);
	cr_assert(strstr(f.req[0], "\r\nContent-Length: 7\r\n"), "%s", f.req[0]);
	for (int i = 0; i < 40; i++) {
		page = page_of(n);
		if (sample(page, "nestor_notify_sent_total") == 2)
			break;
		free(page);
		page = NULL;
		clock_nap_ms(50);
	}
	cr_assert_not_null(page, "two events delivered");
	cr_assert_eq(strncmp(page, "# start\n", 8), 0, "appended to the page");
	cr_assert_eq(sample(page, "nestor_notify_rejected_total"), 1);
	cr_assert_eq(sample(page, "nestor_notify_retries_total"), 1);
	cr_assert_eq(sample(page, "nestor_notify_dropped_total"), 0);
	cr_assert_eq(sample(page, "nestor_notify_queued"), 0);
	free(page);
	notify_free(n);
	notify_free(NULL);
	pthread_join(f.th, NULL);
	close(f.lfd);
}

/* Nobody listens: nothing is lost but what passes the bound, and the free
 * does not wait for the target. */
Test(notify, full_queue_drops_oldest)
{
	struct fake f;
	struct notify *n;
	char url[64], *page;
	double t0;

	fake_start(&f, (int[]){ 200 }, 0); /* bound, not accepting: a free port */
	close(f.lfd);
	pthread_join(f.th, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)f.port);
	n = notify_new(url, NULL);
	cr_assert_not_null(n);
	for (int i = 0; i < NOTIFY_QUEUE_MAX + 44; i++)
		notify_post(n, strdup("{}"));
	page = page_of(n);
	cr_assert_eq(sample(page, "nestor_notify_dropped_total"), 44);
	cr_assert_eq(sample(page, "nestor_notify_queued"), NOTIFY_QUEUE_MAX);
	cr_assert_eq(sample(page, "nestor_notify_sent_total"), 0);
	free(page);
	t0 = clock_mono_s();
	notify_free(n);
	cr_assert_lt(clock_mono_s() - t0, 1.0, "stopping does not wait on the target");
}

Test(notify, bad_ca_refused)
{
	cr_assert_null(notify_new("https://127.0.0.1:1/", "/nonexistent/ca.pem"));
	cr_assert_null(notify_new("gopher://x/", NULL));
}
