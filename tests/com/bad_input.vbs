' Bad input through the COM objects: each failure is False (or an empty string, or Nothing)
' with a readable LastErrorText, nothing is raised, and the script goes on to the next case.
'
'   cscript //nologo bad_input.vbs ENCRYPTED_KEY_FILE API_URL UNICODE_KEY_FILE
'
' ENCRYPTED_KEY_FILE is encrypted with the password "right-password"; UNICODE_KEY_FILE is a
' plain key whose path has non-ASCII characters. Exits 0 when every check passed.
Option Explicit

Dim args, encryptedKey, apiUrl, unicodeKey, passed, failed
Set args = WScript.Arguments
encryptedKey = args(0)
apiUrl = args(1)
unicodeKey = args(2)
passed = 0
failed = 0

Sub Check(what, condition, detail)
    If condition Then
        passed = passed + 1
        WScript.Echo "ok   " & what
    Else
        failed = failed + 1
        WScript.Echo "FAIL " & what & ": " & detail
    End If
End Sub

' Each case is expected to fail with LastErrorText naming the reason.
Sub ExpectFailure(what, obj, result, expected, needle)
    Check what, (result = expected) And (obj.LastMethodSuccess = False) And (InStr(obj.LastErrorText, needle) > 0), _
        "got '" & result & "', LastMethodSuccess " & obj.LastMethodSuccess & ", LastErrorText '" & obj.LastErrorText & "'"
End Sub

Dim key, http, json, resp
Set key = CreateObject("Dpop.PrivateKey")
ExpectFailure "missing key file", key, key.LoadAnyFormatFile("Z:\no\such\key.pem", ""), False, "DPOP_ERR_IO"
ExpectFailure "wrong password", key, key.LoadAnyFormatFile(encryptedKey, "wrong-password"), False, "DPOP_ERR_KEY_WRONG_PASSWORD"
ExpectFailure "no password for an encrypted key", key, key.LoadAnyFormatFile(encryptedKey, ""), False, "DPOP_ERR_KEY_PASSWORD_REQUIRED"
ExpectFailure "not a key", key, key.LoadPem("hello"), False, "DPOP_ERR_KEY_UNRECOGNIZED"
ExpectFailure "no key loaded yet", key, key.GetPublicJwk(), "", "holds no key"
Check "LastErrorText is kept by reading it", InStr(key.LastErrorText, "holds no key") > 0, key.LastErrorText
Check "right password", key.LoadAnyFormatFile(encryptedKey, "right-password") And key.LastMethodSuccess And key.LastErrorText = "", key.LastErrorText
Check "a key at a non-ASCII path", key.LoadAnyFormatFile(unicodeKey, "") And key.Alg = "ES256", key.LastErrorText

Set http = CreateObject("Dpop.Http")
http.AuthToken = "not json"
ExpectFailure "invalid AuthToken JSON", http, http.LastMethodSuccess, False, "not valid JSON"
http.AuthToken = "{""client_id"":""a""}"
ExpectFailure "incomplete AuthToken", http, http.LastMethodSuccess, False, "lack"
ExpectFailure "SetDPoPKey with another object", http, http.SetDPoPKey(CreateObject("Scripting.Dictionary")), False, "not a Dpop.PrivateKey"
ExpectFailure "SetDPoPKey with a string", http, http.SetDPoPKey("ec.pem"), False, "not a Dpop.PrivateKey"
ExpectFailure "SetDPoPKey with an empty key", http, http.SetDPoPKey(CreateObject("Dpop.PrivateKey")), False, "holds no key"
ExpectFailure "invalid URL", http, http.QuickGetStr("not a url"), "", "DPOP_ERR_HTTP_URL"
ExpectFailure "unreachable server", http, http.QuickGetStr("http://127.0.0.1:9/unreachable"), "", "DPOP_ERR_HTTP_CONNECT"
Check "no status without a response", http.LastStatus = 0, http.LastStatus
ExpectFailure "plain http to a remote host", http, http.QuickGetStr("http://example.com/"), "", "DPOP_ERR_HTTP_INSECURE"
http.ConnectTimeout = 0
ExpectFailure "a zero timeout", http, http.LastMethodSuccess, False, "at least 1 second"
Check "the timeout is unchanged", http.ConnectTimeout = 10, http.ConnectTimeout
Set resp = http.QuickRequest("GET", "not a url")
Check "QuickRequest without a response gives Nothing", resp Is Nothing And http.LastMethodSuccess = False, http.LastErrorText
' Requests without token settings still work (no key, no token: a plain request).
Set http = CreateObject("Dpop.Http")
Set resp = http.QuickRequest("GET", apiUrl)
Check "a plain request gets the API's 401", (Not resp Is Nothing) And resp.StatusCode = 401 And http.LastStatus = 401, http.LastErrorText
ExpectFailure "a missing header", resp, resp.GetHeaderField("x-no-such-header"), "", "no 'x-no-such-header' header"
Check "an existing header", resp.GetHeaderField("content-type") <> "" And resp.LastMethodSuccess, resp.LastErrorText

Set json = CreateObject("Dpop.JsonObject")
ExpectFailure "JSON that is not an object", json, json.Load("[1,2]"), False, "not a JSON object"
ExpectFailure "a missing member", json, json.StringOf("nothing"), "", "no member 'nothing'"

WScript.Echo "bad_input: " & passed & " passed, " & failed & " failed"
If failed > 0 Then WScript.Quit 1
