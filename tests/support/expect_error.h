#pragma once
// Asserts that f() throws mantissa::Error and that the message contains every fragment.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include <mantissa/core/error.h>

template <typename F>
void expect_error(F f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const mantissa::Error& e) {
    const std::string message = e.what();
    for (const std::string& fragment : fragments)
      EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' missing from: " << message;
  }
}
