// A second translation unit of the C++ test program. It includes dpop.hpp twice (the include
// guard must hold) and instantiates the same classes and helpers as test_dpop.cpp: were any
// function in the header not inline, the program would fail to link with duplicate symbols.
#include "dpop.hpp"
#include "dpop.hpp"  // NOLINT(readability-duplicate-include): on purpose

#include <string>

// The thumbprint of a newly generated key, computed in this translation unit.
std::string odr_thumbprint_of_new_key(const std::string& alg) {
    const dpop::Key key = dpop::Key::generate(alg);
    return key.thumbprint();
}

// The status code that loading a missing file throws, caught in this translation unit.
dpop_status odr_code_of_missing_key_file() {
    try {
        (void)dpop::Key::load("/nonexistent/dpop-odr.pem");
    } catch (const dpop::Error& e) {
        return e.code();
    }
    return DPOP_OK;
}

// The status of a GET made in this translation unit with an object created in the other one.
int odr_get_status(dpop::Http& http, const std::string& url) {
    (void)http.get(url);
    return http.last_status();
}

// The HTTP status of a GET task's response, made and taken in this translation unit.
int odr_task_status(dpop::Http& http, const std::string& url) {
    dpop::Task task = http.get_async(url);
    return task.result().status();
}
