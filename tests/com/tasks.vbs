' Asynchronous calls through the COM objects (Dpop.Task, Chilkat's Task), against a local test
' server:
'   1. QuickGetStrAsync returns a loaded task; Run; Wait; completed, TaskSuccess, the body;
'   2. HttpStrAsync with a JSON body to the server's echo path; GetResultResponse; the same
'      for QuickRequestAsync (a DELETE), and its task for a bad URL;
'   3. a request the server holds (its /stall path): Wait(200) is False while it runs, Cancel
'      aborts it promptly (status aborted), ResultErrorText says cancelled; the Http object
'      works on;
'   4. a failed call (a URL that is none): completed, TaskSuccess False, ResultErrorText;
'   5. an empty Dpop.Task, Run twice, a task canceled before it started.
'
'   cscript //nologo tasks.vbs DPOP_KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_SECRET
'
' Exits 0 when every check passed.
Option Explicit

Dim args, keyFile, tokenEndpoint, apiUrl, clientSecret
Set args = WScript.Arguments
If args.Count < 4 Then
    WScript.Echo "usage: tasks.vbs DPOP_KEY_FILE TOKEN_ENDPOINT API_URL CLIENT_SECRET"
    WScript.Quit 2
End If
keyFile = args(0)
tokenEndpoint = args(1)
apiUrl = args(2)
clientSecret = args(3)

Dim passed, failed
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

Dim success, privKey, json, http, task, resp, body, started, elapsed, stallUrl, echoUrl

Set privKey = CreateObject("Dpop.PrivateKey")
success = privKey.LoadAnyFormatFile(keyFile, "")
Check "the key loads", success, privKey.LastErrorText
Set json = CreateObject("Dpop.JsonObject")
success = json.UpdateString("client_id", "m2m.dpop")
success = json.UpdateString("client_secret", clientSecret)
success = json.UpdateString("token_endpoint", tokenEndpoint)
success = json.UpdateString("scope", "api")
Set http = CreateObject("Dpop.Http")
success = http.SetDPoPKey(privKey)
http.AuthToken = json.Emit()
' Long timeouts: what ends a held request is the cancel.
http.ReadTimeout = 60
http.RequestTimeout = 120
stallUrl = Left(apiUrl, InStr(apiUrl, "/dpop/") - 1) & "/stall"
echoUrl = Left(apiUrl, InStrRev(apiUrl, "/")) & "echo"

' 1. QuickGetStrAsync.
Set task = http.QuickGetStrAsync(apiUrl)
Check "QuickGetStrAsync returns a task", http.LastMethodSuccess And Not (task Is Nothing), http.LastErrorText
Check "it is loaded", task.Status = "loaded" And task.StatusInt = 2 And task.Inert And Not task.Live, task.Status
Check "a loaded task is not waited for", Not task.Wait(100), task.LastErrorText
success = task.Run()
Check "Run", success, task.LastErrorText
Check "Wait", task.Wait(60000), task.LastErrorText
Check "completed", task.Status = "completed" And task.StatusInt = 7 And task.Finished, task.Status
Check "TaskSuccess", task.TaskSuccess, task.ResultErrorText
body = task.GetResultString()
Check "the body is the API's", InStr(body, """client_id"":""m2m.dpop""") > 0, body
Check "ResultErrorText is empty", task.ResultErrorText = "", task.ResultErrorText
success = task.Run()
Check "a task runs once", Not success And InStr(task.LastErrorText, "started already") > 0, task.LastErrorText

' A task that gives a response: run, finished, a 200 whose body holds needle.
Sub CheckResponseTask(name, task, needle)
    Dim resp
    Check name & " runs", task.Run(), task.LastErrorText
    Check name & " finishes", task.Wait(60000), task.LastErrorText
    Set resp = task.GetResultResponse()
    Check name & ": GetResultResponse", task.LastMethodSuccess And Not (resp Is Nothing), task.LastErrorText
    If Not (resp Is Nothing) Then
        Check name & ": status 200", resp.StatusCode = 200, resp.StatusCode & " " & resp.BodyStr
        Check name & ": the server saw " & needle, InStr(resp.BodyStr, needle) > 0, resp.BodyStr
    End If
End Sub

' 2. HttpStrAsync and QuickRequestAsync, and their responses.
CheckResponseTask "HttpStrAsync", http.HttpStrAsync("POST", echoUrl, "{""hello"":""world""}", "utf-8", "application/json"), "hello"
CheckResponseTask "QuickRequestAsync", http.QuickRequestAsync("DELETE", echoUrl), "DELETE"
Set task = http.QuickRequestAsync("GET", "not a url")
Check "QuickRequestAsync with a bad URL still gives a task (its failure is the task's)", Not (task Is Nothing), http.LastErrorText

' 3. A request the server holds, cancelled.
Set task = http.QuickGetStrAsync(stallUrl)
success = task.Run()
Check "the held request runs", success, task.LastErrorText
Check "Wait(200) is False while the server holds it", Not task.Wait(200), task.Status
Check "it is live", task.Live And (task.Status = "running" Or task.Status = "queued"), task.Status
started = Timer
success = task.Cancel()
Check "Cancel", success, task.LastErrorText
Check "the cancelled task finishes", task.Wait(10000), task.Status
elapsed = Timer - started
If elapsed < 0 Then elapsed = elapsed + 86400
Check "promptly, not at the 60 s read timeout", elapsed < 10, elapsed
Check "aborted", task.Status = "aborted" And task.StatusInt = 6 And task.Finished, task.Status
Check "TaskSuccess is False", Not task.TaskSuccess, task.Status
Check "ResultErrorText says cancelled", InStr(task.ResultErrorText, "QuickGetStrAsync: the request was cancelled") = 1 _
    And InStr(task.ResultErrorText, "DPOP_ERR_CANCELLED") > 0, task.ResultErrorText
body = task.GetResultString()
Check "no result string", body = "" And Not task.LastMethodSuccess, task.LastErrorText
body = http.QuickGetStr(apiUrl)
Check "the Http object works on", http.LastStatus = 200, http.LastErrorText

' 4. A failed call.
Set task = http.QuickGetStrAsync("not a url")
success = task.RunSynchronously()
Check "RunSynchronously", success, task.LastErrorText
Check "completed, unsuccessfully", task.Status = "completed" And Not task.TaskSuccess, task.Status
Check "ResultErrorText names the code", InStr(task.ResultErrorText, "DPOP_ERR_HTTP_URL") > 0, task.ResultErrorText

' 5. Empty and canceled tasks.
Set task = CreateObject("Dpop.Task")
Check "an empty task", task.Status = "empty" And task.StatusInt = 1 And task.Inert, task.Status
success = task.Run()
Check "an empty task does not run", Not success And InStr(task.LastErrorText, "empty") > 0, task.LastErrorText
Set task = http.QuickGetStrAsync(apiUrl)
success = task.Cancel()
Check "a loaded task cancels", success And task.Status = "canceled" And task.StatusInt = 5, task.Status
success = task.Run()
Check "a canceled task does not run", Not success, task.Status
Set task = http.QuickGetStrAsync(stallUrl)
success = task.Run()
' Released while it runs: cancelled in the background.
Set task = Nothing

WScript.Echo "tasks: " & passed & " passed, " & failed & " failed"
If failed > 0 Then WScript.Quit 1
