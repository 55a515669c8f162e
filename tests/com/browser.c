/*
 * browser.exe URL: the headless "browser" of the COM sign-in tests under Wine, which DPOP_BROWSER
 * names. Like a browser whose user has signed in already, it GETs the authorization URL (the
 * test server's /authorize approves at once and answers 302 to the loopback redirect_uri), then
 * GETs the Location, where libdpop's listener takes the code and answers with its page. Plain
 * HTTP/1.1 over Winsock to 127.0.0.1 only, nothing of libdpop. Exits 0 when the listener answered
 * 200. Built by tests/com/run.sh and windows/build.sh (for examples-c/sign_in.c) with mingw-w64
 * (-lws2_32).
 */
#include <winsock2.h>
#include <ws2tcpip.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GET of an http://127.0.0.1:PORT/... URL: the status, and the Location header into `location`
 * (may be NULL). -1 when the request failed. */
static int http_get(const char *url, char *location, size_t location_size) {
    const char *prefix = "http://127.0.0.1:";
    if (strncmp(url, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "browser: not a loopback http URL\n");
        return -1;
    }
    char *end = NULL;
    long port = strtol(url + strlen(prefix), &end, 10);
    if (port <= 0 || port > 65535 || end == NULL || *end != '/') {
        return -1;
    }
    SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (s == INVALID_SOCKET) {
        return -1;
    }
    DWORD timeout_ms = 60000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms, sizeof timeout_ms);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&address, sizeof address) != 0) {
        closesocket(s);
        return -1;
    }
    static char request[8192];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\nUser-Agent: browser.exe\r\nConnection: close\r\n\r\n",
                     end, port);
    if (n < 0 || (size_t)n >= sizeof request || send(s, request, n, 0) != n) {
        closesocket(s);
        return -1;
    }
    static char response[16384];
    int got = 0, r;
    while (got < (int)sizeof response - 1 && (r = recv(s, response + got, (int)sizeof response - 1 - got, 0)) > 0) {
        got += r;
    }
    closesocket(s);
    response[got] = '\0';
    int status = -1;
    if (sscanf(response, "HTTP/1.1 %d", &status) != 1) {
        return -1;
    }
    if (location != NULL && location_size > 0) {
        location[0] = '\0';
        const char *at = strstr(response, "\r\nLocation: ");
        if (at == NULL) {
            at = strstr(response, "\r\nlocation: ");
        }
        if (at != NULL) {
            at += strlen("\r\nLocation: ");
            size_t len = strcspn(at, "\r\n");
            if (len < location_size) {
                memcpy(location, at, len);
                location[len] = '\0';
            }
        }
    }
    return status;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: browser.exe URL\n");
        return 2;
    }
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        return 1;
    }
    static char location[8192];
    int status = http_get(argv[1], location, sizeof location);
    if (status != 302 || location[0] == '\0') {
        fprintf(stderr, "browser: the authorization endpoint answered %d, not a redirect\n", status);
        WSACleanup();
        return 1;
    }
    status = http_get(location, NULL, 0);
    WSACleanup();
    if (status != 200) {
        fprintf(stderr, "browser: the redirect URI answered %d\n", status);
        return 1;
    }
    return 0;
}
